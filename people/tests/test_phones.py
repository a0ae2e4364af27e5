import pytest
from django.core.exceptions import ValidationError

from people.phones import LineType, parse_phone


@pytest.mark.parametrize(
    "raw,e164,line_type",
    [
        ("06 12 34 56 78", "+33612345678", LineType.MOBILE),
        ("+33 7 81 23 45 67", "+33781234567", LineType.MOBILE),
        ("02 51 42 11 00", "+33251421100", LineType.LANDLINE),
        ("09 51 23 45 67", "+33951234567", LineType.LANDLINE),
        ("+32 470 12 34 56", "+32470123456", LineType.MOBILE),
        ("+1 201 555 0123", "+12015550123", LineType.AMBIGUOUS),
    ],
)
def test_it_normalizes_to_e164_with_line_type(raw, e164, line_type):
    phone = parse_phone(raw)
    assert phone.e164 == e164
    assert phone.line_type == line_type


@pytest.mark.parametrize(
    "raw,code",
    [
        ("", "required"),
        ("abc", "invalid"),
        ("06 12", "invalid"),
        ("3631", "short"),
        ("112", "short"),
        ("08 99 12 34 56", "refused_type"),
        ("0800 12 34 56", "refused_type"),
        ("+33 1 2", "invalid"),
    ],
)
def test_it_refuses_numbers_that_cannot_be_authorized(raw, code):
    with pytest.raises(ValidationError) as excinfo:
        parse_phone(raw)
    assert excinfo.value.code == code
