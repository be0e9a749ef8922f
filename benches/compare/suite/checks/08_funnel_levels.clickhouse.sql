-- Check for 08_funnel_by_channel: every user's level with windowFunnel.
SELECT user_id,
       windowFunnel(1800000000)(toUInt64(toUnixTimestamp64Micro(ts)),
           event_type = 'view', event_type = 'add_to_cart',
           event_type = 'checkout', event_type = 'pay') AS level
FROM user_events
GROUP BY user_id
ORDER BY user_id
