"""The seconds settings of the control endpoint's sections (/_sim/config), checked in one place."""


def checked_seconds(section, known, given, nullable=(), positive=()):
    """The settings `given` for `section` as {name: float}, None kept for the names in `nullable` (a cap left off).

    ValueError naming the section and the setting for a name not in `known`, None where it is not allowed, a negative
    number, or 0 for the names in `positive` (a step must move time on).
    """
    unknown = set(given) - set(known)
    if unknown:
        raise ValueError(f"unknown {section} settings: {sorted(unknown)}")
    seconds = {}
    for key, value in given.items():
        if value is None and key in nullable:
            seconds[key] = None
            continue
        number = None if value is None else float(value)
        if number is None or number < 0 or (number == 0 and key in positive):
            wanted = ("> 0" if key in positive else ">= 0") + (", or null" if key in nullable else "")
            raise ValueError(f"{section} {key}: give a number of seconds {wanted}, got {value!r}")
        seconds[key] = number
    return seconds


class SecondsSettings:
    """configure() and describe() for a holder of a section's seconds settings.

    The holder keeps them in `settings` (the names it knows) under `lock`, and names its SECTION and the settings
    that may be null (NULLABLE) or must be above 0 (POSITIVE).
    """

    SECTION = ""
    NULLABLE = ()
    POSITIVE = ()

    def configure(self, **settings):
        seconds = checked_seconds(self.SECTION, self.settings, settings, nullable=self.NULLABLE, positive=self.POSITIVE)
        with self.lock:
            self.settings.update(seconds)
        return self.describe()

    def describe(self):
        with self.lock:
            return dict(self.settings)
