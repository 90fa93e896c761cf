"""City-level geo from a MaxMind-format database (GEOIP_PATH). No database or no match: empty fields."""
import functools
import logging
from dataclasses import dataclass
from typing import cast

import geoip2.database
import geoip2.errors
from django.conf import settings

from contract.messages import GEO, GeoFields

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Geo:
    country: str = ""
    city: str = ""
    region: str = ""
    latitude: float | None = None
    longitude: float | None = None

    def fields(self) -> GeoFields:
        return cast(GeoFields, {name: getattr(self, name) for name in GEO})


NO_GEO = Geo()


@functools.lru_cache(maxsize=1)
def _reader(path: str) -> geoip2.database.Reader | None:
    if not path:
        return None
    try:
        return geoip2.database.Reader(path)
    except (OSError, ValueError) as error:
        logger.warning("GeoIP database %s cannot be opened (%s); geo fields stay empty", path, error)
        return None


@functools.lru_cache(maxsize=65536)
def _lookup(path: str, ip: str) -> Geo:
    reader = _reader(path)
    if reader is None or not ip:
        return NO_GEO
    try:
        city = reader.city(ip)
    except (geoip2.errors.AddressNotFoundError, ValueError, TypeError):
        return NO_GEO
    except Exception:  # a database of another type (Country-only) or a corrupt record
        try:
            country = reader.country(ip)
        except Exception:
            return NO_GEO
        return Geo(country=country.country.iso_code or "")
    subdivision = city.subdivisions[0].name if city.subdivisions else ""
    return Geo(
        country=city.country.iso_code or "",
        city=city.city.name or "",
        region=subdivision or "",
        latitude=city.location.latitude,
        longitude=city.location.longitude,
    )


def locate(ip: str) -> Geo:
    return _lookup(settings.GEOIP_PATH, ip)
