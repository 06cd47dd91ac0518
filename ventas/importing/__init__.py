"""Import of the legacy exports (clients and service history) into the CRM.

- `readers`: open CSV/.xlsx files, detect encoding and header, stream rows.
- `parsers`: dates, amounts, years, quantities, categories and service names of a single cell.
- `matching`: find the customer of a row by email, phone, then name, from in-memory indexes.
- `services`: `import_history(...)` and `import_clients(...)`, the summary and the rejection report.
"""
