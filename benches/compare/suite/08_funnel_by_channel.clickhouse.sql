-- view -> add_to_cart -> checkout -> pay funnel per first-touch channel, 30-minute window
-- (see .promodb.sql). windowFunnel rejects DateTime64, so the timestamp is passed as UInt64
-- microseconds and the window as 30 * 60 * 10^6. The first-touch channel is the channel of
-- the smallest (ts, channel) among the user's events that have one.
SELECT first_channel AS channel,
       count() AS users,
       countIf(level >= 1) AS viewed,
       countIf(level >= 2) AS added_to_cart,
       countIf(level >= 3) AS checked_out,
       countIf(level >= 4) AS paid,
       toFloat64(countIf(level >= 4)) / nullIf(countIf(level >= 1), 0) AS view_to_pay
FROM (
    SELECT user_id,
           argMinIf(channel, (ts, channel), channel IS NOT NULL) AS first_channel,
           windowFunnel(1800000000)(toUInt64(toUnixTimestamp64Micro(ts)),
               event_type = 'view', event_type = 'add_to_cart',
               event_type = 'checkout', event_type = 'pay') AS level
    FROM user_events
    GROUP BY user_id
)
GROUP BY first_channel
ORDER BY first_channel NULLS LAST
