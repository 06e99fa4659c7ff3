"""Date formats for the admin: Django's English ones with the time zone named.

A time without its zone is ambiguous to a dispatcher when TIME_ZONE is not
their own (the default is UTC); "T" prints the zone's abbreviation.
"""

DATETIME_FORMAT = "N j, Y, P T"
TIME_FORMAT = "P T"
SHORT_DATETIME_FORMAT = "m/d/Y P T"
