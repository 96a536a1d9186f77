"""Pure domain data and checks: the kinds of application (``kinds``), field checks with the
applicant's messages (``validation``), countries (``countries``) and their time zones
(``zones``), risk signals' words (``flags``), the device catalogue (``catalogue``,
``devices.json``), canned answers' default texts (``responses``).

May import: ``platform`` (gettext markers), ``config``. No ORM, no HTTP, no files but its
own data: every function here answers from its arguments.
"""
