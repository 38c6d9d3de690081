"""Departments: the street's evaluation of the departments (``python -m geo departments``)."""
