"""A deterministic, plausible demo catalog.

`generate(n, seed)` yields `n` items with ids "c000001", "c000002", ... The first ones
are well-known titles ("The Matrix", "Amélie", "The Godfather", ...) with their real
years and genres, holding the top popularity ranks, so demos and tests can search for
them. The rest are made up from word lists: "The Silent Harbor", "Ghosts of Kraków",
"Maelin's Promise II", and invented names that give the vocabulary the long tail a real
catalog has. Series come with their seasons and episodes, each episode linked to its
series (`series_id`, `season`, `episode`) and titled like one ("Pilot", "The Last
Letter"), not "Dark Harbor S1E3"; "Breaking Bad" has its first three real episodes.

Distributions: years 1920..2026 skewed to recent ones; ratings about normal around 6.5
(clipped to 0..10, one decimal); popularity Zipf by rank (popularity = 1e6 / rank, the
ranks of made-up items shuffled); durations by type (movies 60..240 min, episodes about
the series' slot of 22..65 min, a pilot a little longer, a series carries its slot);
a series runs 1..5 seasons of 6..13 episodes. Same `n` and `seed`, same output;
a smaller `n` gives the same items but for their popularity.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from actors.catalog.model import ContentItem

GENRES = (
    "Drama", "Comedy", "Thriller", "Action", "Romance", "Crime", "Documentary",
    "Horror", "Adventure", "Sci-Fi", "Fantasy", "Mystery", "Family", "Animation",
    "Biography", "History", "War", "Music", "Sport", "Western",
)
_GENRE_WEIGHTS = (20, 16, 10, 10, 8, 8, 6, 6, 6, 5, 5, 5, 4, 4, 3, 3, 2, 2, 2, 1)

PLATFORMS = (
    "Netflix", "Prime Video", "Disney+", "Max", "Hulu", "Apple TV+", "Paramount+",
    "Peacock", "Crunchyroll", "Mubi",
)
_PLATFORM_WEIGHTS = (24, 20, 12, 10, 9, 7, 6, 5, 4, 3)

MIN = 60_000

# (title, type, year, genres, rating, duration in minutes); ranks in this order.
# An episode's place in its series is in FAMOUS_EPISODES, by title.
FAMOUS: tuple[tuple[str, str, int, tuple[str, ...], float, int], ...] = (
    ("The Matrix", "movie", 1999, ("Action", "Sci-Fi"), 8.7, 136),
    ("The Godfather", "movie", 1972, ("Crime", "Drama"), 9.2, 175),
    ("Amélie", "movie", 2001, ("Comedy", "Romance"), 8.3, 122),
    ("Breaking Bad", "series", 2008, ("Crime", "Drama", "Thriller"), 9.5, 49),
    ("Pulp Fiction", "movie", 1994, ("Crime", "Drama"), 8.9, 154),
    ("The Dark Knight", "movie", 2008, ("Action", "Crime", "Drama"), 9.0, 152),
    ("Inception", "movie", 2010, ("Action", "Adventure", "Sci-Fi"), 8.8, 148),
    ("Stranger Things", "series", 2016, ("Drama", "Fantasy", "Horror"), 8.7, 51),
    ("Spirited Away", "movie", 2001, ("Animation", "Adventure", "Family"), 8.6, 125),
    ("The Shawshank Redemption", "movie", 1994, ("Drama",), 9.3, 142),
    ("Game of Thrones", "series", 2011, ("Action", "Adventure", "Drama"), 9.2, 57),
    ("Star Wars", "movie", 1977, ("Action", "Adventure", "Fantasy"), 8.6, 121),
    ("The Matrix Reloaded", "movie", 2003, ("Action", "Sci-Fi"), 7.2, 138),
    ("The Godfather Part II", "movie", 1974, ("Crime", "Drama"), 9.0, 202),
    ("Forrest Gump", "movie", 1994, ("Drama", "Romance"), 8.8, 142),
    ("Parasite", "movie", 2019, ("Drama", "Thriller"), 8.5, 132),
    ("Léon: The Professional", "movie", 1994, ("Action", "Crime", "Drama"), 8.5, 110),
    ("Interstellar", "movie", 2014, ("Adventure", "Drama", "Sci-Fi"), 8.7, 169),
    ("Fight Club", "movie", 1999, ("Drama",), 8.8, 139),
    ("Friends", "series", 1994, ("Comedy", "Romance"), 8.9, 22),
    ("The Office", "series", 2005, ("Comedy",), 9.0, 22),
    ("Schindler's List", "movie", 1993, ("Biography", "Drama", "History"), 9.0, 195),
    ("Casablanca", "movie", 1942, ("Drama", "Romance", "War"), 8.5, 102),
    ("The Lord of the Rings: The Fellowship of the Ring", "movie", 2001, ("Adventure", "Drama", "Fantasy"), 8.9, 178),
    ("Crouching Tiger, Hidden Dragon", "movie", 2000, ("Action", "Adventure", "Drama"), 7.9, 120),
    ("City of God", "movie", 2002, ("Crime", "Drama"), 8.6, 130),
    ("Das Boot", "movie", 1981, ("Drama", "War"), 8.4, 149),
    ("Pokémon: The First Movie", "movie", 1998, ("Animation", "Adventure", "Family"), 6.3, 75),
    ("Sherlock", "series", 2010, ("Crime", "Drama", "Mystery"), 9.1, 88),
    ("Dark", "series", 2017, ("Crime", "Drama", "Mystery"), 8.7, 60),
    ("Pilot", "episode", 2008, ("Crime", "Drama", "Thriller"), 9.0, 58),
    ("Cat's in the Bag...", "episode", 2008, ("Crime", "Drama", "Thriller"), 8.6, 48),
    ("...And the Bag's in the River", "episode", 2008, ("Crime", "Drama", "Thriller"), 8.7, 48),
    ("The Good, the Bad and the Ugly", "movie", 1966, ("Western",), 8.8, 178),
    ("Seven Samurai", "movie", 1954, ("Action", "Drama"), 8.6, 207),
    ("Metropolis", "movie", 1927, ("Drama", "Sci-Fi"), 8.3, 153),
)

# episode title -> (series title, season, episode)
FAMOUS_EPISODES = {
    "Pilot": ("Breaking Bad", 1, 1),
    "Cat's in the Bag...": ("Breaking Bad", 1, 2),
    "...And the Bag's in the River": ("Breaking Bad", 1, 3),
}

ADJECTIVES = (
    "Silent", "Dark", "Broken", "Last", "Lost", "Hidden", "Golden", "Crimson", "Frozen",
    "Burning", "Eternal", "Secret", "Wild", "Quiet", "Savage", "Little", "Great", "Final",
    "Forgotten", "Distant", "Endless", "Fallen", "Hollow", "Bright", "Midnight", "Northern",
    "Southern", "Iron", "Velvet", "Glass", "Stolen", "Sacred", "Restless", "Bitter", "Sweet",
    "Lonely", "Perfect", "Dangerous", "Beautiful", "Strange", "Invisible", "Scarlet",
    "Electric", "Shattered", "Deadly", "Gentle", "Hungry", "Wicked", "Brave", "Radiant",
    "Empty", "Ancient", "Modern", "Royal", "Rogue", "Blind", "Crooked", "Painted", "Sleeping",
    "Wandering", "Haunted", "Cursed", "Blessed", "Fearless", "Reckless", "Tender", "Violent",
    "Silver", "Black", "White", "Red", "Blue", "Green", "Grey", "Young", "Old", "New",
    "Secondhand", "Borrowed", "Infinite", "Parallel", "Vanishing", "Rising", "Falling",
)
NOUNS = (
    "Harbor", "Shadow", "River", "Kingdom", "Promise", "Garden", "Storm", "Mirror", "Road",
    "Island", "Heart", "Night", "City", "Summer", "Winter", "Letter", "Secret", "Dream",
    "Empire", "House", "Child", "Witness", "Stranger", "Hunter", "Queen", "King", "Soldier",
    "Doctor", "Detective", "Thief", "Ghost", "Angel", "Devil", "Wolf", "Raven", "Dragon",
    "Horizon", "Frontier", "Station", "Machine", "Signal", "Code", "Game", "Ship", "Train",
    "Bridge", "Tower", "Castle", "Forest", "Mountain", "Desert", "Ocean", "Valley", "Moon",
    "Sun", "Star", "Planet", "Fire", "Ice", "Rain", "Wind", "Blood", "Bone", "Stone",
    "Crown", "Sword", "Rose", "Lily", "Orchid", "Widow", "Bride", "Brother", "Sister",
    "Father", "Mother", "Daughter", "Son", "Friend", "Enemy", "Lover", "Lie", "Truth",
    "Memory", "Silence", "Echo", "Whisper", "Song", "Dance", "Journey", "Escape", "Return",
    "Revenge", "Justice", "Law", "Heist", "Contract", "Verdict", "Trial", "Mission",
    "Experiment", "Protocol", "Paradox", "Legacy", "Inheritance", "Prophecy", "Ritual",
    "Carnival", "Circus", "Orchestra", "Painter", "Poet", "Chef", "Pilot", "Captain",
    "Prisoner", "Outlaw", "Sheriff", "Gambler", "Spy", "Agent", "Assassin", "Priest",
    "Monk", "Witch", "Wizard", "Knight", "Pirate", "Sailor", "Lighthouse", "Orchard",
    "Vineyard", "Cathedral", "Library", "Museum", "Hotel", "Motel", "Diner", "Casino",
    "Apartment", "Neighbor", "Family", "Wedding", "Funeral", "Birthday", "Holiday",
    "Weekend", "Morning", "Evening", "Twilight", "Dawn", "Eclipse", "Comet", "Galaxy",
    "Universe", "Labyrinth", "Puzzle", "Riddle", "Cipher", "Algorithm", "Robot",
    "Android", "Clone", "Mutant", "Zombie", "Vampire", "Werewolf", "Phantom", "Spirit",
    "Flower", "Feather", "Diamond", "Pearl", "Treasure", "Map", "Compass", "Anchor",
)
PLACES = (
    "Paris", "Tokyo", "Berlin", "Vienna", "Lisbon", "Cairo", "Havana", "Montréal",
    "Zürich", "Kraków", "São Paulo", "Málaga", "Reykjavík", "Istanbul", "Marrakesh",
    "Shanghai", "Seoul", "Mumbai", "Sydney", "Chicago", "Brooklyn", "Texas", "Alaska",
    "Nevada", "Manhattan", "Venice", "Naples", "Sicily", "Provence", "Bavaria", "Siberia",
    "Patagonia", "the North", "the South", "the East", "the West", "the Sea", "the Moon",
    "Mars", "Atlantis", "Avalon", "El Dorado", "Tomorrow", "Yesterday", "Nowhere",
    "the Valley", "the Coast", "the Island", "the Desert", "the Mountains", "Harlem",
    "Hollywood", "Saint-Tropez", "Córdoba", "Bogotá", "Medellín", "Kyoto", "Osaka",
    "Hokkaido", "Bangkok", "Hanoi", "Lagos", "Nairobi", "Dublin", "Glasgow", "Oslo",
    "Helsinki", "Prague", "Budapest", "Athens", "Crete", "Jerusalem", "Beirut",
)
FIRST_NAMES = (
    "Anna", "Max", "Zoé", "André", "Søren", "Renée", "José", "Chloé", "Noah", "Emma",
    "Lucas", "Mia", "Leo", "Sofia", "Hugo", "Clara", "Oscar", "Ingrid", "Mateo", "Elena",
    "Yuki", "Hiro", "Amara", "Kofi", "Nadia", "Ivan", "Olga", "Pablo", "Lucía", "Marco",
    "Giulia", "Felix", "Greta", "Jonas", "Astrid", "Björn", "Sven", "Freya", "Liam",
    "Ava", "Ethan", "Isla", "Jack", "Lily", "Samuel", "Grace", "Daniel", "Hannah",
    "Rafael", "Inês", "Thiago", "Beatriz", "Mehmet", "Ayşe", "Omar", "Layla", "Ravi",
    "Priya", "Chen", "Mei", "Jin", "Minh", "Kai", "Nina", "Victor", "Vera", "Boris",
    "Frida", "Diego", "Carmen", "Tomás", "Agnès", "François", "Hélène", "Jérôme",
)
_SYLLABLES = (
    "ka", "ri", "mo", "ven", "dor", "li", "sa", "tha", "mar", "el", "zan", "or", "qui",
    "bel", "ros", "ta", "nu", "gar", "fen", "ly", "bra", "kel", "vi", "an", "dra", "mir",
    "sol", "cae", "ith", "ul", "ron", "wyn", "ae", "lor", "ny", "ster", "gal", "ed", "ix",
    "pe", "hal", "jo", "oth", "ren", "sha", "ti", "vo", "zel",
)
_SEQUELS = (" II", " III", " 2", " 3", ": Part II", " Returns", ": The Beginning", " IV")
_PATTERNS = (
    "The {A} {N}", "{N} of {P}", "The {N} of {X}", "{X}", "{X}'s {N}", "Return to {P}",
    "The Last {N}", "{A} {P}", "A {N} in {P}", "{N} and {N2}", "The {N} of the {A} {N2}",
    "{X} and the {A} {N}", "{A} {N}", "{N}", "The {N}", "{X} {Y}", "Letters from {P}",
    "The {N} Who Knew Too Much", "{A} Nights in {P}", "Beyond the {N}",
)
_PATTERN_WEIGHTS = (14, 8, 5, 4, 5, 2, 4, 4, 3, 3, 3, 2, 8, 3, 5, 6, 1, 1, 1, 2)
_EPISODE_MINUTES = (22, 24, 30, 42, 45, 50, 55, 60, 65)
_SEASONS = (1, 1, 1, 2, 2, 3, 4, 5)
_EPISODES_PER_SEASON = (6, 8, 8, 10, 10, 12, 13)
SERIES_SHARE = 0.025  # of the made-up titles that start a series (then ~25 episodes follow)


def generate(n: int, seed: int = 0) -> Iterator[ContentItem]:
    """Yield `n` deterministic demo items; see the module docstring."""
    if n <= 0:
        return
    rng = random.Random(seed)
    famous = FAMOUS[: min(n, len(FAMOUS))]
    # Zipf popularity by rank: the famous titles hold the top ranks in list order,
    # the made-up ones get the other ranks shuffled. The shuffle has its own generator
    # so the items' other fields do not depend on `n`.
    ranks = list(range(len(famous) + 1, n + 1))
    random.Random(f"ranks-{seed}").shuffle(ranks)

    number = 0
    series_ids: dict[str, str] = {}
    for title, type_, year, genres, rating, minutes in famous:
        number += 1
        if type_ == "series":
            series_ids[title] = _id(number)
        place = FAMOUS_EPISODES.get(title) if type_ == "episode" else None
        yield ContentItem(
            id=_id(number),
            title=title,
            type=type_,
            year=year,
            genres=genres,
            platforms=_pick(rng, _PLATFORM_POOL, rng.choice((1, 1, 2, 3))),
            rating=rating,
            popularity=_popularity(number),
            duration_ms=minutes * MIN,
            series_id=series_ids[place[0]] if place else None,
            season=place[1] if place else None,
            episode=place[2] if place else None,
        )

    names = _NameMaker(rng)
    rank_iter = iter(ranks)
    while number < n:
        if rng.random() < SERIES_SHARE:
            # A series followed by its episodes, season by season.
            series_title = _title(rng, names)
            year = _year(rng)
            genres = _pick(rng, _GENRE_POOL, rng.choice((1, 2, 2, 3)))
            platforms = _pick(rng, _PLATFORM_POOL, rng.choice((1, 1, 2, 3)))
            minutes = rng.choice(_EPISODE_MINUTES)
            number += 1
            series_id = _id(number)
            yield ContentItem(
                id=series_id, title=series_title, type="series", year=year,
                genres=genres, platforms=platforms, rating=_rating(rng),
                popularity=_popularity(next(rank_iter)), duration_ms=minutes * MIN,
            )
            for season in range(1, rng.choice(_SEASONS) + 1):
                for episode in range(1, rng.choice(_EPISODES_PER_SEASON) + 1):
                    if number >= n:
                        break
                    number += 1
                    pilot = season == 1 and episode == 1
                    length = max(18, int(rng.gauss(minutes * (1.15 if pilot else 1.0), 3)))
                    yield ContentItem(
                        id=_id(number), title="Pilot" if pilot else _title(rng, names),
                        type="episode", year=min(2026, year + season - 1), genres=genres,
                        platforms=platforms, rating=_rating(rng),
                        popularity=_popularity(next(rank_iter)),
                        duration_ms=length * MIN + rng.randrange(MIN),
                        series_id=series_id, season=season, episode=episode,
                    )
        else:
            number += 1
            minutes = min(240, max(60, int(rng.gauss(105, 20))))
            yield ContentItem(
                id=_id(number), title=_title(rng, names), type="movie", year=_year(rng),
                genres=_pick(rng, _GENRE_POOL, rng.choice((1, 2, 2, 3))),
                platforms=_pick(rng, _PLATFORM_POOL, rng.choice((1, 1, 2, 3))),
                rating=_rating(rng), popularity=_popularity(next(rank_iter)),
                duration_ms=minutes * MIN + rng.randrange(MIN),
            )


def _id(number: int) -> str:
    return f"c{number:06d}"


def _popularity(rank: int) -> float:
    return round(1_000_000 / rank, 3)


def _year(rng: random.Random) -> int:
    return 2026 - min(106, int(rng.expovariate(1 / 14)))


def _rating(rng: random.Random) -> float:
    return round(min(10.0, max(0.0, rng.gauss(6.5, 1.3))), 1)


def _pool(values: tuple[str, ...], weights: tuple[int, ...]) -> tuple[str, ...]:
    """Each value repeated by its weight: `rng.choice` on it is a fast weighted draw."""
    return tuple(v for v, w in zip(values, weights) for _ in range(w))


_GENRE_POOL = _pool(GENRES, _GENRE_WEIGHTS)
_PLATFORM_POOL = _pool(PLATFORMS, _PLATFORM_WEIGHTS)
_PATTERN_POOL = _pool(_PATTERNS, _PATTERN_WEIGHTS)


def _pick(rng: random.Random, pool: tuple[str, ...], k: int) -> tuple[str, ...]:
    out: list[str] = []
    while len(out) < k:
        v = rng.choice(pool)
        if v not in out:
            out.append(v)
    return tuple(out)


class _NameMaker:
    """Proper names: real first names, or invented ones ("Kelmir", "Thalorwyn")."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def __call__(self) -> str:
        rng = self.rng
        if rng.random() < 0.4:
            return rng.choice(FIRST_NAMES)
        parts = rng.choice((2, 2, 3))
        return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()


_FAMOUS_TITLES = frozenset(t[0].casefold() for t in FAMOUS)


def _title(rng: random.Random, names: _NameMaker) -> str:
    while True:
        pattern = rng.choice(_PATTERN_POOL)
        title = pattern.format_map(_Lazy(rng, names))
        if rng.random() < 0.06:
            title += rng.choice(_SEQUELS)
        if title.casefold() not in _FAMOUS_TITLES:  # "Dark", "Friends" stay unique
            return title


class _Lazy(dict):
    """Fills a pattern's fields on demand, so each pattern draws only what it uses."""

    def __init__(self, rng: random.Random, names: _NameMaker) -> None:
        super().__init__()
        self.rng = rng
        self.names = names

    def __missing__(self, key: str) -> str:
        rng = self.rng
        if key == "A":
            v = rng.choice(ADJECTIVES)
        elif key in ("N", "N2"):
            v = rng.choice(NOUNS)
        elif key == "P":
            v = rng.choice(PLACES)
        else:  # X, Y: names
            v = self.names()
        self[key] = v
        return v
