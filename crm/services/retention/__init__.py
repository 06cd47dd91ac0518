"""Retention intelligence: customer lifetime value (BG/NBD + Gamma-Gamma), due-back dates, segment movement."""
