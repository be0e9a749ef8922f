-- view -> add_to_cart -> checkout -> pay funnel per first-touch channel (the channel of the
-- user's earliest event that has one; ties at one ts: alphabetically first), 30-minute
-- window, ClickHouse windowFunnel semantics (default mode); the built-in funnel_by_channel
-- view. Users whose events never carry a channel form the NULL row, sorted last.
SELECT channel, users, viewed, added_to_cart, checked_out, paid, view_to_pay
FROM funnel_by_channel
ORDER BY channel NULLS LAST
