"""Pure token logic: e-mail/password validation, Argon2id, JWT access tokens, refresh
token hashing, the bounded revoked-family set."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import statistics
import time
import warnings

import jwt
import pytest

from actors.errors import AuthRequired, InvalidParams
from actors.tokens.crypto import (
    AccessClaims,
    JwtCodec,
    PasswordHasher,
    hash_refresh_token,
    new_refresh_token,
    normalize_email,
    validate_password,
)
from actors.tokens.revoked import RevokedFamilies

SECRET = b"s" * 32
OTHER_SECRET = b"o" * 32


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ----------------------------------------------------------------------- e-mail


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("bob@example.com", "bob@example.com"),
        ("  Bob.Smith+tag@Example.COM \n", "bob.smith+tag@example.com"),
        ("admin@localhost", "admin@localhost"),
        ("o'neil@sub.example.co.uk", "o'neil@sub.example.co.uk"),
    ],
)
def test_normalize_email_accepts_and_normalizes(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "no-at-sign",
        "two@@example.com",
        "a@b@example.com",
        "with space@example.com",
        "@example.com",
        "bob@",
        "bob@-example.com",
        "bob@example..com",
        "bob@exa_mple.com",
        "x" * 65 + "@example.com",
        "bob@" + "a" * 250 + ".com",
        None,
        42,
        ["bob@example.com"],
    ],
)
def test_normalize_email_rejects(raw: object) -> None:
    with pytest.raises(InvalidParams) as info:
        normalize_email(raw)
    assert info.value.errors[0]["field"] == "email"


def test_normalize_email_length_limit_is_254() -> None:
    domain = ".".join(["a" * 61] * 3)  # 185 characters
    local = "b" * 64
    ok = f"{local}@{domain}"  # 64 + 1 + 185 = 250
    assert normalize_email(ok) == ok
    too_long = f"{local}@{domain}.{'c' * 4}"  # 255
    with pytest.raises(InvalidParams):
        normalize_email(too_long)


def test_normalize_email_field_name_is_configurable() -> None:
    with pytest.raises(InvalidParams) as info:
        normalize_email("nope", field="params.email")
    assert info.value.errors == [
        {"field": "params.email", "message": "is not a valid e-mail address"}
    ]


# --------------------------------------------------------------------- password


@pytest.mark.parametrize("length", [8, 9, 100, 1024])
def test_validate_password_accepts_lengths(length: int) -> None:
    password = "p" * length
    assert validate_password(password) == password


@pytest.mark.parametrize("value", ["", "p" * 7, "p" * 1025, None, 12345678, b"bytes-password"])
def test_validate_password_rejects(value: object) -> None:
    with pytest.raises(InvalidParams) as info:
        validate_password(value)
    assert info.value.errors[0]["field"] == "password"


# ---------------------------------------------------------------------- argon2


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher.for_tests()


def test_hash_is_argon2id_and_verifies(hasher: PasswordHasher) -> None:
    hashed = hasher.hash("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert hasher.verify(hashed, "correct horse battery")
    assert not hasher.verify(hashed, "correct horse battery!")


def test_hash_is_salted(hasher: PasswordHasher) -> None:
    assert hasher.hash("same password") != hasher.hash("same password")


def test_verify_malformed_hash_is_false(hasher: PasswordHasher) -> None:
    assert not hasher.verify("not-a-hash", "whatever1")
    assert not hasher.verify("", "whatever1")


def test_dummy_verify_is_false(hasher: PasswordHasher) -> None:
    assert hasher.dummy_verify("anything-at-all") is False


def test_needs_rehash_when_parameters_change(hasher: PasswordHasher) -> None:
    hashed = hasher.hash("a password")
    assert not hasher.needs_rehash(hashed)
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    assert stronger.needs_rehash(hashed)
    assert stronger.needs_rehash("garbage")


def test_default_parameters_are_rfc_9106_low_memory() -> None:
    hashed = PasswordHasher().hash("a password")
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_dummy_verify_costs_about_a_real_verify() -> None:
    # Parameters costly enough (a few ms) that the work dominates the noise.
    ph = PasswordHasher(time_cost=2, memory_cost=4096, parallelism=1)
    hashed = ph.hash("the real password")

    # CPU time of this thread (the hash runs in it), samples of both interleaved: wall
    # time on a loaded machine measures the other processes, not the work.
    def cpu_seconds(fn) -> float:
        start = time.thread_time()
        fn()
        return time.thread_time() - start

    reals, dummies = [], []
    for _ in range(9):
        reals.append(cpu_seconds(lambda: ph.verify(hashed, "a wrong password")))
        dummies.append(cpu_seconds(lambda: ph.dummy_verify("a wrong password")))
    real, dummy = statistics.median(reals), statistics.median(dummies)
    assert 0.5 < dummy / real < 2.0


# ------------------------------------------------------------------------- JWT


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def codec(clock: FakeClock) -> JwtCodec:
    return JwtCodec(SECRET, ttl=900, leeway=5, clock=clock)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign_raw(header: dict, payload: dict, key: bytes = SECRET) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


def _payload(clock: FakeClock, **changes) -> dict:
    iat = int(clock.now)
    payload = {
        "iss": "media-gateway",
        "aud": "media-gateway-clients",
        "sub": "user-1",
        "iat": iat,
        "exp": iat + 900,
        "jti": "j1",
        "fam": "fam-1",
        "roles": ["user"],
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def test_issue_and_decode_round_trip(codec: JwtCodec, clock: FakeClock) -> None:
    token, expires_at = codec.issue("user-1", "fam-1", ["user", "admin"])
    assert expires_at == int(clock.now) + 900
    claims = codec.decode(token)
    assert claims == AccessClaims(
        sub="user-1",
        fam="fam-1",
        roles=("user", "admin"),
        jti=claims.jti,
        iat=int(clock.now),
        exp=expires_at,
    )


def test_issued_token_has_the_documented_claims(codec: JwtCodec) -> None:
    token, _ = codec.issue("user-1", "fam-1", ["user"])
    header = jwt.get_unverified_header(token)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "HS256"
    assert set(payload) == {"iss", "aud", "sub", "iat", "exp", "jti", "fam", "roles"}
    assert payload["iss"] == "media-gateway"
    assert payload["aud"] == "media-gateway-clients"


def test_every_token_has_its_own_jti(codec: JwtCodec) -> None:
    jtis = {codec.decode(codec.issue("u", "f", [])[0]).jti for _ in range(50)}
    assert len(jtis) == 50


def test_ttl_is_configurable(clock: FakeClock) -> None:
    codec = JwtCodec(SECRET, ttl=60, clock=clock)
    _, expires_at = codec.issue("u", "f", [])
    assert expires_at == int(clock.now) + 60


def test_expiry_follows_the_injected_clock(clock: FakeClock) -> None:
    codec = JwtCodec(SECRET, ttl=900, leeway=5, clock=clock)
    token, expires_at = codec.issue("u", "f", [])
    clock.now = expires_at + 4.9  # inside the leeway
    assert codec.decode(token).sub == "u"
    clock.now = expires_at + 5  # exp <= now - leeway
    with pytest.raises(AuthRequired):
        codec.decode(token)


def test_expiry_without_leeway(clock: FakeClock) -> None:
    codec = JwtCodec(SECRET, ttl=900, leeway=0, clock=clock)
    token, expires_at = codec.issue("u", "f", [])
    clock.now = expires_at - 0.001
    codec.decode(token)
    clock.now = expires_at
    with pytest.raises(AuthRequired):
        codec.decode(token)


def test_token_issued_in_the_future_is_refused(clock: FakeClock) -> None:
    issuer = JwtCodec(SECRET, clock=FakeClock(clock.now + 60))
    token, _ = issuer.issue("u", "f", [])
    with pytest.raises(AuthRequired):
        JwtCodec(SECRET, leeway=5, clock=clock).decode(token)


def _bad_tokens(clock: FakeClock) -> dict[str, object]:
    good = JwtCodec(SECRET, clock=clock).issue("user-1", "fam-1", ["user"])[0]
    head, body, sig = good.split(".")
    alg_none = f"{_b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{body}."
    tampered_body = _b64(json.dumps(_payload(clock, roles=["admin"])).encode())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        hs512 = jwt.encode(_payload(clock), SECRET, algorithm="HS512")
    return {
        "alg none": alg_none,
        "alg none with signature": f"{alg_none}{sig}",
        "forged signature": JwtCodec(OTHER_SECRET, clock=clock).issue("user-1", "fam-1", [])[0],
        "tampered payload": f"{head}.{tampered_body}.{sig}",
        "truncated signature": f"{head}.{body}.{sig[:-4]}",
        "HS512 with the right key": hs512,
        "wrong audience": JwtCodec(SECRET, audience="someone-else", clock=clock).issue(
            "u", "f", []
        )[0],
        "wrong issuer": JwtCodec(SECRET, issuer="evil", clock=clock).issue("u", "f", [])[0],
        "audience list": _sign_raw(
            {"alg": "HS256"}, _payload(clock, aud=["media-gateway-clients", "x"])
        ),
        "missing fam": _sign_raw({"alg": "HS256"}, _payload(clock, fam=None)),
        "missing roles": _sign_raw({"alg": "HS256"}, _payload(clock, roles=None)),
        "missing jti": _sign_raw({"alg": "HS256"}, _payload(clock, jti=None)),
        "missing exp": _sign_raw({"alg": "HS256"}, _payload(clock, exp=None)),
        "missing iat": _sign_raw({"alg": "HS256"}, _payload(clock, iat=None)),
        "missing sub": _sign_raw({"alg": "HS256"}, _payload(clock, sub=None)),
        "roles not a list": _sign_raw({"alg": "HS256"}, _payload(clock, roles="admin")),
        "role not a string": _sign_raw({"alg": "HS256"}, _payload(clock, roles=[1])),
        "sub not a string": _sign_raw({"alg": "HS256"}, _payload(clock, sub=7)),
        "empty fam": _sign_raw({"alg": "HS256"}, _payload(clock, fam="")),
        "exp a string": _sign_raw({"alg": "HS256"}, _payload(clock, exp="99999999999")),
        "exp a boolean": _sign_raw({"alg": "HS256"}, _payload(clock, exp=True)),
        "expired": _sign_raw(
            {"alg": "HS256"}, _payload(clock, iat=int(clock.now) - 1000, exp=int(clock.now) - 100)
        ),
        "payload not an object": _sign_raw({"alg": "HS256"}, ["not", "an", "object"]),  # type: ignore[arg-type]
        "empty": "",
        "garbage": "garbage",
        "three garbage parts": "a.b.c",
        "bad base64": "!!!.@@@.###",
        "not a string": 12345,
        "None": None,
    }


def test_every_bad_token_gives_the_same_auth_error(codec: JwtCodec, clock: FakeClock) -> None:
    for name, token in _bad_tokens(clock).items():
        with pytest.raises(AuthRequired) as info:
            codec.decode(token)
        assert info.value.message == "Invalid or expired token", name
        # Nothing chained that a careless handler could leak.
        assert info.value.__cause__ is None, name


def test_hand_signed_good_token_is_accepted(codec: JwtCodec, clock: FakeClock) -> None:
    # Guards the negative cases above: the helper itself makes valid tokens.
    claims = codec.decode(_sign_raw({"alg": "HS256", "typ": "JWT"}, _payload(clock)))
    assert claims.fam == "fam-1"


def test_secret_may_be_str() -> None:
    codec = JwtCodec("x" * 32)
    assert codec.decode(codec.issue("u", "f", [])[0]).sub == "u"


@pytest.mark.parametrize("secret", [b"", b"short", "x" * 31])
def test_short_secret_is_refused(secret: bytes | str) -> None:
    with pytest.raises(ValueError):
        JwtCodec(secret)


@pytest.mark.parametrize("ttl", [0, -1, 1.5, True])
def test_bad_ttl_is_refused(ttl: object) -> None:
    with pytest.raises(ValueError):
        JwtCodec(SECRET, ttl=ttl)  # type: ignore[arg-type]


# --------------------------------------------------------------- refresh tokens


def test_refresh_tokens_are_256_bit_urlsafe_and_unique() -> None:
    tokens = {new_refresh_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in list(tokens)[:20]:
        assert len(token) == 43
        assert len(base64.urlsafe_b64decode(token + "=")) == 32


def test_refresh_token_hash_is_stable_sha256_hex() -> None:
    token = new_refresh_token()
    digest = hash_refresh_token(token)
    assert digest == hash_refresh_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert len(digest) == 64
    assert digest != hash_refresh_token(new_refresh_token())


# --------------------------------------------------------------- revoked set


def test_revoked_family_is_remembered_until_its_tokens_expired(clock: FakeClock) -> None:
    revoked = RevokedFamilies(access_ttl=900, clock=clock, skew=30)
    assert revoked.add("fam-1")
    assert "fam-1" in revoked
    assert "fam-2" not in revoked
    clock.now += 929
    assert revoked.prune() == 0
    assert "fam-1" in revoked
    clock.now += 1
    assert revoked.prune() == 1
    assert "fam-1" not in revoked
    assert len(revoked) == revoked.size == 0


def test_explicit_revoked_at_is_honoured(clock: FakeClock) -> None:
    revoked = RevokedFamilies(access_ttl=900, clock=clock, skew=30)
    assert revoked.add("recent", revoked_at=clock.now - 100)
    assert revoked.revoked_at("recent") == clock.now - 100
    # Revoked so long ago that every access token of it has expired: not kept.
    assert not revoked.add("ancient", revoked_at=clock.now - 931)
    assert "ancient" not in revoked
    clock.now += 830
    revoked.prune()
    assert "recent" not in revoked


def test_revoking_again_later_extends_the_entry(clock: FakeClock) -> None:
    revoked = RevokedFamilies(access_ttl=900, clock=clock, skew=0)
    revoked.add("fam")
    clock.now += 500
    revoked.add("fam")
    clock.now += 500  # 1000 s after the first revocation, 500 after the second
    revoked.prune()
    assert "fam" in revoked
    clock.now += 400
    revoked.prune()
    assert "fam" not in revoked


def test_an_older_duplicate_does_not_shorten_the_entry(clock: FakeClock) -> None:
    revoked = RevokedFamilies(access_ttl=900, clock=clock, skew=0)
    revoked.add("fam", revoked_at=clock.now)
    revoked.add("fam", revoked_at=clock.now - 800)  # e.g. a late pub/sub echo
    clock.now += 850
    revoked.prune()
    assert "fam" in revoked


def test_revoked_set_stays_bounded_under_churn(clock: FakeClock) -> None:
    revoked = RevokedFamilies(access_ttl=900, clock=clock, skew=30)
    largest = 0
    for i in range(20_000):  # one revocation a second for five and a half hours
        clock.now += 1
        revoked.add(f"fam-{i}")
        largest = max(largest, revoked.size)
    assert largest <= 931
    assert f"fam-{19_999}" in revoked
    assert f"fam-{19_000}" not in revoked


@pytest.mark.parametrize(("ttl", "skew"), [(0, 0), (-1, 0), (900, -1)])
def test_revoked_set_rejects_bad_config(ttl: float, skew: float) -> None:
    with pytest.raises(ValueError):
        RevokedFamilies(access_ttl=ttl, skew=skew)


# ------------------------------------------------------------------ signing key


def test_a_long_secret_is_the_key_itself() -> None:
    from actors.tokens.crypto import signing_key

    assert signing_key("k" * 32) == (b"k" * 32, False)
    assert signing_key(b"\x00" * 40) == (b"\x00" * 40, False)


def test_a_short_secret_is_stretched_alike_on_every_node() -> None:
    from actors.tokens.crypto import signing_key

    key, derived = signing_key("secret")
    assert derived and len(key) == 32
    assert signing_key(b"secret") == (key, True)  # same secret, same key: nodes agree
    assert signing_key("secret2")[0] != key
    JwtCodec(key)  # long enough for the codec
    with pytest.raises(ValueError):
        signing_key("")


# --------------------------------------------------------------------- throttle


def test_throttle_locks_after_the_limit_and_doubles_up_to_the_cap() -> None:
    from actors.kv import AttemptPolicy

    policy = AttemptPolicy(limit=3, base_lock=10, max_lock=60)
    assert [policy.lock_ms(n) for n in range(1, 8)] == [0, 0, 10_000, 20_000, 40_000, 60_000, 60_000]
    assert policy.lock_ms(10_000) == 60_000


# ------------------------------------------------------------------------ guard


def test_guard_refuses_revoked_families_and_expired_principals(clock: FakeClock) -> None:
    from actors.errors import TokenRevoked
    from actors.tokens.guard import TokenGuard

    codec = JwtCodec(SECRET, ttl=60, leeway=0, clock=clock)
    revoked = RevokedFamilies(60, clock)
    guard = TokenGuard(codec, revoked, clock)  # type: ignore[arg-type]
    token, _ = codec.issue("u1", "fam-1", ["user"])
    claims = guard.check(token)
    guard.still_valid(claims)
    revoked.add("fam-1")
    with pytest.raises(TokenRevoked):
        guard.check(token)
    with pytest.raises(TokenRevoked):
        guard.still_valid(claims)
    other, _ = codec.issue("u1", "fam-2", ["user"])
    live = guard.check(other)
    clock.now += 61
    with pytest.raises(AuthRequired):
        guard.still_valid(live)
    with pytest.raises(AuthRequired):
        guard.check(other)
