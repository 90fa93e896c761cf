"""Pure functions that turn what a client sent into what is stored: time, properties, URLs, ids, UA, geo, IP."""
