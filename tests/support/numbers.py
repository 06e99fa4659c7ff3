"""Phone numbers the callable-number rule refuses, each with words its refusal must say.

Real examples (the issue's, and phonenumbers' own example_number_for_type),
all valid numbers: the API's phone field accepts them, so it is the rule that
refuses them. Tests run with a US-only pool unless they say otherwise.
"""

PREMIUM_RATE = "Premium-rate"
INTERNATIONAL_NETWORK = "International network"
OUTSIDE_THE_COUNTRIES = "Numbers in AG"

# The issue's customers, and its agent.
ISSUE_CUSTOMERS = [
    ("+19002345678", PREMIUM_RATE),  # US 900
    ("+449098790000", PREMIUM_RATE),  # GB 09
    ("+881612345678", INTERNATIONAL_NETWORK),  # a satellite phone (GMSS)
    ("+870773123456", INTERNATIONAL_NETWORK),  # Inmarsat
    ("+12684601234", OUTSIDE_THE_COUNTRIES),  # Antigua and Barbuda, behind +1 like the US
]
ISSUE_AGENT = "+19002345699"

# The other kinds the rule names.
OTHER_KINDS = [
    ("+33884012345", "Shared-cost"),  # FR
    ("+445512345678", "Universal access numbers (UAN)"),  # GB
    ("+15002345678", "Personal numbers"),  # US 500
    ("+447640123456", "Pager"),  # GB
    ("+80012345678", INTERNATIONAL_NETWORK),
    ("+80812345678", INTERNATIONAL_NETWORK),
    ("+878101234567890", INTERNATIONAL_NETWORK),
    ("+8823421234", INTERNATIONAL_NETWORK),
    ("+883510012345", INTERNATIONAL_NETWORK),
    ("+88812345678901", INTERNATIONAL_NETWORK),
    ("+979123456789", INTERNATIONAL_NETWORK),
]
REFUSED = ISSUE_CUSTOMERS + [(ISSUE_AGENT, PREMIUM_RATE)] + OTHER_KINDS

# Valid in form, but in no range in use: the API's and the admin's phone fields refuse it first.
INVALID = "+14151234567"
GB_MOBILE = "+447400123456"
GB_PROXY = "+442071838750"


def assert_names_the_rule(sentence: str, rule: str, number: str) -> None:
    """One sentence that names the rule and the kind of number, and not the number itself (it may reach a log)."""
    assert "callable-number rule" in sentence
    assert rule in sentence
    assert number.lstrip("+") not in sentence.replace(" ", "")
