-- justify_hours / justify_days / justify_interval and make_timestamp.
SELECT justify_hours(interval '36 hours'), justify_days(interval '40 days'), justify_interval(interval '1 mon -1 hour');
SELECT justify_hours(interval '1 day -1 hour'), justify_days(interval '1 mon -40 days');
SELECT make_timestamp(2024, 2, 29, 12, 30, 0.5), make_timestamp(1999, 12, 31, 23, 59, 59);
SELECT make_timestamp(2024, 2, 30, 0, 0, 0);
