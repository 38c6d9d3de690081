"""Strings of the city level (a city command centre's wall spans its districts)."""

from layouts.i18n import register

register({
    "filter.district": ("区", "District"),
})
