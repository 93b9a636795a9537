"""Postcode normalisation and the offline gazetteer (build it with `make gazetteer`; building lives in .build)."""

from service_finder.domain.postcode import Postcode, PostcodeError, normalise_postcode, parse_postcode
from service_finder.geocoding.gazetteer import (
    Gazetteer,
    GazetteerFileError,
    PostcodeNotFound,
    PostcodeOutsideEngland,
    PostcodePoint,
)

__all__ = [
    "Gazetteer",
    "GazetteerFileError",
    "Postcode",
    "PostcodeError",
    "PostcodeNotFound",
    "PostcodeOutsideEngland",
    "PostcodePoint",
    "normalise_postcode",
    "parse_postcode",
]
