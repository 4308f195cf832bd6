"""The privacy-notice section a sender pastes into their privacy statement: the pixel and
the counting of clicks on a campaign's shared links.

Pure: the text is built from the live configuration and the legal bases of the live
campaigns, in English or Dutch, as Markdown or as an HTML ``<section>`` fragment.
In HTML every line is escaped with ``html.escape``, so every configured value is too.
"""

# Typographic quotes and apostrophes are intended: this is prose for readers.
# ruff: noqa: RUF001

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from ..config import Config
from ..core.campaign import LEGAL_BASES
from ..exceptions import ValidationError

__all__ = ["FORMATS", "LANGUAGES", "LegalBasisUse", "render_notice"]

LANGUAGES = ("en", "nl")
FORMATS = ("markdown", "html")

_HEADING = {"en": "Newsletter and tracking", "nl": "Nieuwsbrief en volgsysteem"}
_NO_CONTACT = {"en": "[contact address]", "nl": "[contactadres]"}
_NO_REFERENCE = {"en": "[statutory reference]", "nl": "[wettelijke grondslag]"}
_NL_EXEMPTION = {
    "en": "in the Netherlands: Article 11.7a(3) of the Telecommunicatiewet",
    "nl": "artikel 11.7a, derde lid, Telecommunicatiewet",
}


@dataclass(frozen=True)
class LegalBasisUse:
    """One legal basis in use, with the public_task statutory reference when given."""

    basis: str
    reference: str | None = None


# A block is a paragraph (str) or a bulleted list (tuple of str); lines are plain text.
# What the figures guarantee is said as the configuration makes it, and nothing more: the
# release step (epsilon, the period, min_recipients) or exact counts; a keyed hash only when
# unique opens are counted (privacy.uniques).
_Block = str | tuple[str, ...]


def _days(n: int, lang: str) -> str:
    if lang == "nl":
        return f"{n} dag" if n == 1 else f"{n} dagen"
    return f"{n} day" if n == 1 else f"{n} days"


def _about_months(days: int, lang: str) -> str:
    """' (about N months)' when the retention is two months or more, else ''."""
    if days < 60:
        return ""
    months = round(days / 30.44)
    return f" (ongeveer {months} maanden)" if lang == "nl" else f" (about {months} months)"


def _period(seconds: int, lang: str) -> str:
    """A release period in words: 'hour', '15 minutes' (English); 'uur', '15 minuten' (Dutch)."""
    if seconds == 3600:
        return "uur" if lang == "nl" else "hour"
    if seconds % 60 == 0:
        n, one, many = seconds // 60, ("minuut", "minuten"), ("minute", "minutes")
    else:
        n, one, many = seconds, ("seconde", "seconden"), ("second", "seconds")
    words = one if lang == "nl" else many
    return words[0] if n == 1 else f"{n} {words[1]}"


def _figures(config: Config, lang: str) -> str:
    """What the configuration guarantees about the figures, and no more."""
    p = config.privacy
    if p.epsilon is None:
        if lang == "nl":
            return (
                "De tellingen zijn exact en worden bijgewerkt zodra er openingen binnenkomen. Bij "
                "een nieuwsbrief aan weinig mensen kunnen ze laten zien of, en wanneer, een bepaalde "
                "ontvanger hem heeft geopend."
            )
        return (
            "The counts are exact and are updated as opens arrive. For a newsletter sent to few "
            "people, they can show whether, and when, a particular recipient opened it."
        )
    eps, period = f"{p.epsilon:g}", _period(p.release_period_seconds, lang)
    if lang == "nl":
        small = (
            f"; nieuwsbrieven aan minder dan {p.min_recipients} ontvangers (of aan een aantal dat we niet "
            "hebben vastgelegd) rapporteren we helemaal niet"
            if p.min_recipients > 0
            else ""
        )
        return (
            "Elk cijfer over openingen dat wij zien, wordt vrijgegeven met differentiële privacy: "
            f"per nieuwsbrief zien we de tellingen eens per {period}, nadat die periode is "
            f"afgelopen, met willekeurige ruis die is afgestemd op een privacybudget van ε = {eps} "
            "per nieuwsbrief. Dat begrenst wat een cijfer, of alle cijfers samen, kan onthullen over "
            f"de vraag of u een nieuwsbrief hebt geopend{small}."
        )
    small = (
        f"; newsletters sent to fewer than {p.min_recipients} recipients (or to a number we did not "
        "record) are not reported at all"
        if p.min_recipients > 0
        else ""
    )
    return (
        "Every figure about opens that we see is released with differential privacy: for each "
        f"newsletter we see the counts once per {period}, after that period has closed, with "
        f"random noise calibrated to a privacy budget of ε = {eps} per newsletter. This bounds "
        "what any figure, or all of them together, can reveal about whether you opened a "
        f"newsletter{small}."
    )


def _links(config: Config, lang: str) -> str:
    """Link counting: what a click is counted as, that links are shared, that nothing goes onwards."""
    p = config.privacy
    base = (config.server.public_url or "").rstrip("/")
    if lang == "nl":
        where = f" (het webadres begint dan met {base}/l/)" if base else ""
        country = ", per land" if p.regions == "country" else ""
        released = (
            " Ook cijfers over klikken geven we alleen vrij met differentiële privacy, binnen "
            "hetzelfde budget."
            if p.epsilon is not None
            else ""
        )
        return (
            f"Loopt een link in onze nieuwsbrief via deze dienst{where}, dan is het webadres van die "
            "link voor alle ontvangers hetzelfde: er staat niets in waaraan wij u kunnen herkennen. "
            "Volgt u zo’n link, dan tellen we die klik op dezelfde manier en volgens dezelfde regels "
            f"als een opening: per nieuwsbrief, link en dag{country}, en of de klik van een mens kwam "
            "of van een machine, zoals een beveiligingsscanner die links controleert voordat de mail "
            "wordt bezorgd. Daarna sturen we u meteen door naar het adres van de link; we voegen er "
            "niets aan toe en sturen geen verwijzing (referrer) mee, dus de website waar u uitkomt, "
            f"hoort van ons niets over u.{released}"
        )
    where = f" (its address then begins with {base}/l/)" if base else ""
    country = ", per country" if p.regions == "country" else ""
    released = (
        " Figures about clicks are released with differential privacy too, within the same budget."
        if p.epsilon is not None
        else ""
    )
    return (
        f"When a link in our newsletter leads through this service{where}, the link’s address is "
        "the same for every recipient: it contains nothing that identifies you. When you follow "
        "such a link, we count the click in the same way and under the same rules as an open: per "
        f"newsletter, link and day{country}, and whether it came from a person or from a machine, "
        "such as a security scanner that checks links before the mail is delivered. You are then "
        "sent straight on to the link’s address: we add nothing to it and send no referrer, so the "
        f"website you reach learns nothing about you from us.{released}"
    )


def _basis_words(use: LegalBasisUse, lang: str) -> str:
    """One legal basis in words, as the end of 'The legal basis is ...'."""
    reference = use.reference or _NO_REFERENCE[lang]
    exemption = use.reference or _NL_EXEMPTION[lang]
    if lang == "nl":
        return {
            "consent": "uw toestemming (artikel 6, lid 1, onder a, AVG). Alleen ontvangers die "
            "toestemming hebben gegeven, krijgen nieuwsbrieven met dit plaatje. U kunt uw "
            "toestemming altijd weer intrekken.",
            "legitimate_interest": "ons gerechtvaardigd belang (artikel 6, lid 1, onder f, "
            "AVG): wij willen weten of onze nieuwsbrieven worden gelezen, zodat wij ze kunnen "
            "verbeteren.",
            "public_task": "de vervulling van een taak van algemeen belang (artikel 6, lid 1, "
            f"onder e, AVG), op grond van {reference}.",
            "exempt_statistics": "de uitzondering voor het meten van de kwaliteit of effectiviteit "
            f"van een dienst met weinig gevolgen voor uw privacy ({exemption}).",
        }[use.basis]
    return {
        "consent": "your consent (Article 6(1)(a) GDPR). Only recipients who have given their "
        "consent receive newsletters containing this image, and you can withdraw your consent "
        "at any time.",
        "legitimate_interest": "our legitimate interest (Article 6(1)(f) GDPR) in knowing "
        "whether our newsletters are read, so that we can improve them.",
        "public_task": "the performance of a task carried out in the public interest "
        f"(Article 6(1)(e) GDPR), based on {reference}.",
        "exempt_statistics": "the exemption for measuring the quality or effectiveness of a "
        f"service with little impact on your privacy ({exemption}).",
    }[use.basis]


def _legal_basis(uses: Sequence[LegalBasisUse], lang: str) -> list[_Block]:
    words = [_basis_words(use, lang) for use in uses]
    if len(words) == 1:
        lead = "De rechtsgrond hiervoor is" if lang == "nl" else "The legal basis is"
        return [f"{lead} {words[0]}"]
    if lang == "nl":
        return ["De rechtsgrond verschilt per nieuwsbrief:", tuple(words)]
    return ["The legal basis depends on the newsletter:", tuple(words)]


def _blocks_en(config: Config, uses: Sequence[LegalBasisUse]) -> list[_Block]:
    p, n = config.privacy, config.notice
    by_country = p.regions == "country"
    measured = [
        "whether and when the images in the newsletter are loaded, counted per campaign and per day and hour;"
    ]
    if by_country:
        fewer = f"fewer than {p.min_bucket} unique opens" if p.uniques else f"fewer than {p.min_bucket} opens"
        if p.epsilon is not None:
            fewer = f"fewer than {p.min_bucket} opens, or too few to stand out from the added noise,"
        other = f"; countries with {fewer} are combined as “other”" if p.min_bucket > 0 else ""
        measured.append(
            f"the country the request came from (never a finer location such as a region or city){other};"
        )
    measured.append(
        "whether the image was fetched by a mail program, by an image proxy (such as those of "
        "Gmail or Apple Mail) or by a machine such as a security scanner."
    )
    country = "to look up the country, " if by_country else ""
    signals = (
        "a Global Privacy Control (Sec-GPC) or Do Not Track (DNT) signal"
        if p.honor_dnt
        else "a Global Privacy Control (Sec-GPC) signal"
    )
    contact = n.contact or _NO_CONTACT["en"]
    whom = f"contact {n.organisation} at {contact}" if n.organisation else f"contact us at {contact}"
    kept = (
        f"{_days(p.retention_days, 'en')}{_about_months(p.retention_days, 'en')} and are then "
        "deleted automatically."
    )
    if p.uniques:
        memory = [
            "We do not keep your IP address, your user agent (the name and version of your mail "
            "program) or any identifier. Your IP address and user agent are used only briefly in "
            f"the server’s memory: {country}to tell mail programs from proxies and machines, and "
            "to compute a keyed hash that is counted in an aggregate tally of unique opens. They "
            "are then discarded.",
            f"The key for this hash is random and is used for {_days(p.salt_window_days, 'en')} at "
            "most. It is then destroyed, after which the counts can no longer be linked to anyone. "
            f"The aggregate counts are kept for {kept}",
        ]
    else:
        country = "to look up the country and " if by_country else ""
        memory = [
            "We do not keep your IP address, your user agent (the name and version of your mail "
            "program) or any identifier. Your IP address and user agent are used only briefly in "
            f"the server’s memory: {country}to tell mail programs from proxies and machines. They "
            "are then discarded. We count opens only: we do not recognise repeated opens by the "
            "same reader, so nothing derived from your address or mail program is kept, not even "
            f"in coded form. The counts are kept for {kept}",
        ]
    return [
        "We measure how often our newsletters are opened. To do so, each newsletter contains a "
        "small, invisible image (a “pixel”). The address of this image is the same for every "
        "recipient of a newsletter: it contains nothing that identifies you.",
        "What we measure:",
        tuple(measured),
        _figures(config, "en"),
        *memory,
        _links(config, "en"),
        *_legal_basis(uses, "en"),
        "You can block the counting of opens by turning off the automatic loading of remote images "
        "(sometimes called external content) in your mail program; that does not stop the "
        f"counting of clicks. If your mail program or browser sends {signals}, we do not count "
        "that request: the image is still delivered, but we only keep a count, without any "
        "details, of requests that asked not to be counted; a link still takes you to its "
        "destination, and nothing about that click is kept.",
        f"To object to this measurement or to ask about it, {whom}. If you object, we send you our "
        "newsletters without the image and with links that lead straight to their destination.",
    ]


def _blocks_nl(config: Config, uses: Sequence[LegalBasisUse]) -> list[_Block]:
    p, n = config.privacy, config.notice
    by_country = p.regions == "country"
    measured = [
        "of en wanneer de afbeeldingen in de nieuwsbrief worden geladen, geteld per "
        "nieuwsbrief en per dag en uur;"
    ]
    if by_country:
        fewer = f"minder dan {p.min_bucket} {'unieke ' if p.uniques else ''}openingen"
        if p.epsilon is not None:
            fewer = (
                f"minder dan {p.min_bucket} openingen, of te weinig om boven de toegevoegde ruis "
                "uit te komen,"
            )
        other = f"; landen met {fewer} tellen we samen als ‘overig’" if p.min_bucket > 0 else ""
        measured.append(
            f"uit welk land het verzoek komt (nooit een preciezere plaats, zoals een regio of stad){other};"
        )
    measured.append(
        "of het plaatje is opgehaald door een e-mailprogramma, via een beeldproxy (zoals die van "
        "Gmail of Apple Mail) of door een machine, bijvoorbeeld een beveiligingsscanner."
    )
    country = "om het land op te zoeken, " if by_country else ""
    signals = (
        "een Global Privacy Control-signaal (Sec-GPC) of een Do Not Track-signaal (DNT)"
        if p.honor_dnt
        else "een Global Privacy Control-signaal (Sec-GPC)"
    )
    kept = (
        f"bewaren we {_days(p.retention_days, 'nl')}{_about_months(p.retention_days, 'nl')}; "
        "daarna worden ze automatisch verwijderd."
    )
    if not p.uniques and by_country:
        country = "om het land op te zoeken en "
    not_kept = (
        "Wij bewaren uw IP-adres niet, en ook niet uw user agent (naam en versie van uw "
        "e-mailprogramma) of een ander kenmerk waaraan u te herkennen bent. Uw IP-adres en user "
        f"agent worden alleen kort in het geheugen van de server gebruikt: {country}om "
        "e-mailprogramma’s te onderscheiden van proxy’s en machines"
    )
    if p.uniques:
        memory = [
            f"{not_kept}, en om er met een geheime sleutel een hashwaarde van te berekenen die "
            "alleen meetelt in een geaggregeerde telling van unieke openingen. Daarna worden ze "
            "weggegooid.",
            "De sleutel voor die hashwaarde is willekeurig gekozen en wordt hoogstens "
            f"{_days(p.salt_window_days, 'nl')} gebruikt. Daarna wordt hij vernietigd; vanaf dat "
            f"moment zijn de tellingen niet meer aan iemand te koppelen. De geaggregeerde tellingen {kept}",
        ]
    else:
        memory = [
            f"{not_kept}. Daarna worden ze weggegooid. Wij tellen alleen openingen: we herkennen "
            "niet of dezelfde lezer een nieuwsbrief vaker opent, dus er wordt niets bewaard dat van "
            f"uw adres of e-mailprogramma is afgeleid, ook niet in gecodeerde vorm. De tellingen {kept}",
        ]
    contact = n.contact or _NO_CONTACT["nl"]
    whom = (
        f"neem dan contact op met {n.organisation} via {contact}"
        if n.organisation
        else f"neem dan contact met ons op via {contact}"
    )
    return [
        "Wij meten hoe vaak onze nieuwsbrieven worden geopend. Daarvoor staat in elke nieuwsbrief "
        "een klein, onzichtbaar plaatje (een ‘pixel’). Het webadres van dat plaatje is voor "
        "alle ontvangers van een nieuwsbrief hetzelfde: er staat niets in waaraan wij u kunnen "
        "herkennen.",
        "Wat we meten:",
        tuple(measured),
        _figures(config, "nl"),
        *memory,
        _links(config, "nl"),
        *_legal_basis(uses, "nl"),
        "U kunt het tellen van openingen tegenhouden door in uw e-mailprogramma het automatisch "
        "laden van externe afbeeldingen uit te zetten; het tellen van klikken houdt dat niet "
        f"tegen. Stuurt uw e-mailprogramma of browser {signals} mee, dan tellen we dat verzoek "
        "niet. Het plaatje wordt dan nog wel geleverd, maar we houden alleen bij hoeveel "
        "verzoeken vroegen om niet geteld te worden, zonder verdere gegevens; een link brengt u "
        "nog steeds naar zijn bestemming, en van die klik bewaren we niets.",
        f"Wilt u bezwaar maken tegen deze meting of heeft u er vragen over, {whom}. Maakt u "
        "bezwaar, dan sturen we u onze nieuwsbrieven zonder het plaatje en met links die "
        "rechtstreeks naar hun bestemming gaan.",
    ]


def _bases_in_use(config: Config, bases: Sequence[LegalBasisUse]) -> list[LegalBasisUse]:
    """The given bases once each, in order; the configured default when none are given."""
    unique: list[LegalBasisUse] = []
    for use in bases or [LegalBasisUse(config.campaigns.default_legal_basis)]:
        if use.basis not in LEGAL_BASES:
            raise ValidationError(
                f"Legal basis {use.basis!r} is not known. Must be one of: {', '.join(LEGAL_BASES)}.",
                details={"basis": use.basis},
            )
        if use not in unique:
            unique.append(use)
    return unique


def _markdown(heading: str, blocks: list[_Block]) -> str:
    out = [f"## {heading}"]
    for block in blocks:
        out.append(block if isinstance(block, str) else "\n".join(f"- {item}" for item in block))
    return "\n\n".join(out) + "\n"


def _html(heading: str, blocks: list[_Block], lang: str) -> str:
    out = [f'<section lang="{lang}">', f"<h2>{html.escape(heading)}</h2>"]
    for block in blocks:
        if isinstance(block, str):
            out.append(f"<p>{html.escape(block)}</p>")
        else:
            out.append("<ul>")
            out.extend(f"<li>{html.escape(item)}</li>" for item in block)
            out.append("</ul>")
    out.append("</section>")
    return "\n".join(out) + "\n"


def render_notice(
    config: Config,
    lang: str = "en",
    fmt: str = "markdown",
    bases: Sequence[LegalBasisUse] = (),
) -> str:
    """The privacy-statement section about the pixel, from the live configuration."""
    if lang not in LANGUAGES:
        raise ValidationError(
            f"Language {lang!r} is not supported. Must be one of: {', '.join(LANGUAGES)}.",
            details={"lang": lang},
        )
    if fmt not in FORMATS:
        raise ValidationError(
            f"Format {fmt!r} is not supported. Must be one of: {', '.join(FORMATS)}.",
            details={"format": fmt},
        )
    uses = _bases_in_use(config, bases)
    blocks = _blocks_nl(config, uses) if lang == "nl" else _blocks_en(config, uses)
    if fmt == "html":
        return _html(_HEADING[lang], blocks, lang)
    return _markdown(_HEADING[lang], blocks)
