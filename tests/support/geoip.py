"""Build a small MaxMind-format City database for the tests (the real ones are not ours to ship)."""
from mmdb_writer import MMDBWriter
from netaddr import IPSet

PLACES = {
    "81.2.69.142/31": ("GB", "United Kingdom", "London", "England", 51.5142, -0.0931),
    "216.160.83.56/29": ("US", "United States", "Milton", "Washington", 47.2513, -122.3149),
    "89.160.20.112/28": ("SE", "Sweden", "Linköping", "Östergötland County", 58.4167, 15.6167),
}


def build_city_database(path) -> str:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City", languages=["en"])
    for network, (iso, country, city, region, lat, lon) in PLACES.items():
        writer.insert_network(
            IPSet([network]),
            {
                "country": {"iso_code": iso, "names": {"en": country}},
                "city": {"names": {"en": city}},
                "subdivisions": [{"names": {"en": region}}],
                "location": {"latitude": lat, "longitude": lon},
            },
        )
    writer.to_db_file(str(path))
    return str(path)
