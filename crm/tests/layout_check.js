// The layout checks of test_e2e_layout.py, run in the page: returns a list of problems in words.
({guarded, tablesMustFit}) => {
  const problems = [];
  const describe = (el) => {
    const cls = el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '';
    const text = (el.innerText || el.textContent || '').trim().replace(/\s+/g, ' ').slice(0, 50);
    return `<${el.tagName.toLowerCase()}${cls}> «${text}»`;
  };
  const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
  const scrollsSideways = (el) => ['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(el).overflowX);
  const width = window.innerWidth;
  if (document.documentElement.scrollWidth > width) {
    const offenders = [];
    for (const el of document.body.querySelectorAll('*')) {
      if (!visible(el) || el.getBoundingClientRect().right <= width + 1) continue;
      // Inside a scrolling box the element is clipped, unless it is positioned out of it (an absolute
      // element escapes every box up to its containing block, the nearest positioned ancestor).
      let clipped = false;
      let escaping = ['absolute', 'fixed'].includes(getComputedStyle(el).position);
      for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
        const positioned = getComputedStyle(up).position !== 'static';
        if (scrollsSideways(up) && (!escaping || positioned)) { clipped = true; break; }
        if (positioned) escaping = false;
      }
      // Report the outermost element that sticks out, not each of its children.
      if (!clipped && !offenders.some((outer) => outer.contains(el))) offenders.push(el);
    }
    problems.push(`the page is ${document.documentElement.scrollWidth} px wide (screen ${width} px); sticking out: `
      + offenders.slice(0, 5).map((el) => `${describe(el)} right edge ${Math.round(el.getBoundingClientRect().right)} px`).join('; '));
  }
  if (tablesMustFit) {
    for (const wrap of document.querySelectorAll('.table-wrap, .chart-scroll')) {
      if (visible(wrap) && wrap.scrollWidth > wrap.clientWidth + 1) {
        problems.push(`${describe(wrap.querySelector('table, svg') || wrap)} scrolls sideways inside its box (${wrap.scrollWidth} px in ${wrap.clientWidth} px)`);
      }
    }
  }
  if (guarded) {
    for (const el of document.querySelectorAll(guarded)) {
      if (!visible(el)) continue;
      if (el.scrollWidth > el.clientWidth + 1) {
        problems.push(`${describe(el)} is cut (${el.scrollWidth} px of text in ${el.clientWidth} px)`);
        continue;
      }
      // An inline value (a link, a span) has no box of its own: it must stay inside its block's content box.
      if (!getComputedStyle(el).display.startsWith('inline')) continue;
      let box = el.parentElement;
      while (box && getComputedStyle(box).display.startsWith('inline')) box = box.parentElement;
      const style = getComputedStyle(box);
      const inner = box.getBoundingClientRect();
      const own = el.getBoundingClientRect();
      const right = inner.right - parseFloat(style.paddingRight) - parseFloat(style.borderRightWidth);
      if (own.right > right + 1) {
        problems.push(`${describe(el)} sticks out of ${describe(box)} by ${Math.round(own.right - right)} px`);
      }
      // A text node drawn on two lines: the value is broken in the middle (a <wbr> separates allowed breaks).
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const text = node.textContent.trim();
        if (text.length < 2) continue;
        const range = document.createRange();
        range.selectNodeContents(node);
        const tops = new Set([...range.getClientRects()].filter((r) => r.width > 1).map((r) => Math.round(r.top / 4)));
        if (tops.size > 1) {
          problems.push(`${describe(el)} breaks «${text.slice(0, 40)}» across ${tops.size} lines`);
          break;
        }
      }
    }
  }
  return problems;
}
