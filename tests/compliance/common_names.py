"""About 1,000 common real names that are not on the SDN list, for the false-positive measure.

First names: among the most frequent given names in the US Social Security Administration's national
baby-name data; last names: among the most frequent surnames of the US Census Bureau's 2010 surname list.
Every first name is paired with every last name (40 x 25 = 1,000 names).
"""
from __future__ import annotations

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Christopher", "Karen",
    "Charles", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra", "Mark", "Margaret",
    "Jose", "Maria", "Luis", "Carmen", "Ahmed", "Fatima", "Wei", "Mei", "Juan", "Ana",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Nguyen", "Patel", "Khan", "Chen",
)
COMMON_NAMES = tuple(f"{f} {last}" for f in FIRST_NAMES for last in LAST_NAMES)
