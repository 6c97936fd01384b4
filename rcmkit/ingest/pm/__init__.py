"""Practice-management (PM) system CSV exports: payers, charges, patient payments, write-offs and contract fee
schedules, read through a column map (docs/pm_csv_layout.md)."""
