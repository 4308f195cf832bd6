"""Common given names (English, Dutch, German, French, Italian, Spanish, Nordic), lower case.

The audit's test for campaign names that look like a person's name (audit_campaigns.py): a
name that starts with one of these and goes on like a surname. A heuristic that errs towards
warning: it only ever asks a person to look.
"""

from __future__ import annotations

__all__ = ["GIVEN_NAMES"]

GIVEN_NAMES = frozenset(
    """
    aaron adam adrian agnes alan albert alex alexander alexandra alice alicia amanda amelia amy
    andrea andreas andrew angela ann anna anne annette anton antonio arjan arthur astrid barbara
    bart bas beatrice ben benjamin bernard bert bettina bianca bob bram brian bruno carla carlo
    carlos carmen caroline catherine charles charlotte chiara chris christian christina
    christine claire clara claudia colin daan daniel daniela david dennis dick dirk dorothy
    edward elena elisa elisabeth eliza elizabeth ellen emily emma eric erik esther eva fabian
    felix femke fleur floris francesca francesco francis frank franz freek frederik gabriel
    george gerard gerrit giulia giuseppe grace greta hannah hans harry heinz helen helena
    hendrik henk henry hugo ian ilse ingrid isabel isabella jack jacob james jan jana jane janet
    jasper javier jean jennifer jeroen jessica jim joan johan johanna john jonas jordi jorge
    jose josef joseph juan julia julian julie karel karen karin katarina kate katharina kees
    kevin klaas koen lars laura lea lena leo linda lisa lotte louis lucas lucia luis luisa luca
    lukas maarten manon marc marco margaret maria marie marieke mario mark marleen martin
    martina mary matteo matthew max michael michel michiel mike miriam monica nadia nathalie
    nicolas niels nina noah nora olivia oscar pablo paola patricia patrick paul paula pedro
    peter petra philip pierre pieter rachel ralf rebecca richard rick rob robert roberto robin
    roel roger ronald rosa ruben ruth sabine sam samuel sandra sara sarah sebastian simon sofia
    sophie stefan stephanie steven susan susanne sven thijs thomas tim tobias tom tomas ursula
    valentina vera victor victoria willem william wim wouter yvonne
    """.split()  # noqa: SIM905 - a word list reads and edits best as text
)
