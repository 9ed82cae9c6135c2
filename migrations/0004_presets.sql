-- Award presets (the award sheet's one-tap buttons) that a class chose for itself. Classes
-- without a row use the school's presets (settings key 'presets'), or the built-in ones.
CREATE TABLE class_presets (
    class_id   TEXT PRIMARY KEY NOT NULL REFERENCES classes (id),
    presets    TEXT NOT NULL CHECK (json_valid(presets)),
    updated_at TEXT NOT NULL
) STRICT;
