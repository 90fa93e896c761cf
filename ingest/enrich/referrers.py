"""A small table of well-known referrers: host → (name, type). Unknown hosts keep their host name."""

_KNOWN = {
    "search": {
        "google": "Google",
        "bing": "Bing",
        "duckduckgo": "DuckDuckGo",
        "yahoo": "Yahoo!",
        "baidu": "Baidu",
        "yandex": "Yandex",
        "ecosia": "Ecosia",
        "qwant": "Qwant",
        "search.brave": "Brave Search",
        "startpage": "Startpage",
        "naver": "Naver",
    },
    "social": {
        "facebook": "Facebook",
        "fb": "Facebook",
        "instagram": "Instagram",
        "t.co": "Twitter",
        "twitter": "Twitter",
        "x": "Twitter",
        "linkedin": "LinkedIn",
        "lnkd.in": "LinkedIn",
        "reddit": "Reddit",
        "youtube": "YouTube",
        "youtu.be": "YouTube",
        "tiktok": "TikTok",
        "pinterest": "Pinterest",
        "news.ycombinator": "Hacker News",
        "mastodon.social": "Mastodon",
        "threads": "Threads",
        "bsky.app": "Bluesky",
        "discord": "Discord",
        "whatsapp": "WhatsApp",
        "telegram": "Telegram",
        "t.me": "Telegram",
    },
    "email": {
        "mail.google": "Gmail",
        "outlook.live": "Outlook",
        "outlook.office": "Outlook",
        "mail.yahoo": "Yahoo! Mail",
    },
}

_BY_KEY = {key: (name, kind) for kind, names in _KNOWN.items() for key, name in names.items()}
_DOTTED = sorted((key for key in _BY_KEY if "." in key), key=len, reverse=True)
_SECOND_LEVEL = {"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or"}


def _site_label(labels: list[str]) -> str:
    """The label that names the site: google in google.com, google.co.uk and m.google.com."""
    if len(labels) >= 3 and labels[-2] in _SECOND_LEVEL:
        return labels[-3]
    return labels[-2] if len(labels) >= 2 else labels[0]


def classify_referrer(host: str) -> tuple[str, str]:
    """(name, type) of a referrer host without `www.`; type is search, social, email or unknown."""
    for key in _DOTTED:
        if host == key or host.startswith(key + ".") or host.endswith("." + key):
            return _BY_KEY[key]
    known = _BY_KEY.get(_site_label(host.split(".")))
    return known if known else (host, "unknown")
