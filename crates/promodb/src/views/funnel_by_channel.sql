-- funnel_by_channel: the view -> add_to_cart -> checkout -> pay funnel, 30-minute window
-- (window_funnel, default mode), per first-touch channel: the channel of the user's
-- earliest event that has one (ties at one ts: the alphabetically first channel); users
-- with no channel on any event form the NULL row.
--   users                      distinct users with any event
--   viewed .. paid             users whose funnel level reached that step (level >= k)
--   view_to_pay                paid / viewed (NULL when viewed = 0)
WITH per_user AS (
    SELECT user_id,
           arg_min(channel, ts) AS channel,
           window_funnel(
               INTERVAL '30 minutes', ts,
               event_type = 'view', event_type = 'add_to_cart',
               event_type = 'checkout', event_type = 'pay') AS level
    FROM user_events
    GROUP BY user_id
)
SELECT channel,
       count(*) AS users,
       count(*) FILTER (WHERE level >= 1) AS viewed,
       count(*) FILTER (WHERE level >= 2) AS added_to_cart,
       count(*) FILTER (WHERE level >= 3) AS checked_out,
       count(*) FILTER (WHERE level >= 4) AS paid,
       safe_div(count(*) FILTER (WHERE level >= 4), count(*) FILTER (WHERE level >= 1))
           AS view_to_pay
FROM per_user
GROUP BY channel
