-- Check for 08_funnel_by_channel (compared, not timed): every user's funnel level, so that
-- the DuckDB plain-SQL funnel is shown equal to window_funnel / windowFunnel user by user,
-- not only in the per-channel counts.
SELECT user_id,
       window_funnel(INTERVAL '30 minutes', ts,
           event_type = 'view', event_type = 'add_to_cart',
           event_type = 'checkout', event_type = 'pay') AS level
FROM user_events
GROUP BY user_id
ORDER BY user_id
