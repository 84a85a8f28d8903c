"""The electronic medical record: patients, prescriptions, reports and review, with a REST API."""
