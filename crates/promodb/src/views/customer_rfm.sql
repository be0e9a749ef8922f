-- customer_rfm: recency, frequency and monetary value per buyer, scored 1..5 by quintile
-- (NTILE(5)), with "now" the latest order ts so that replays are deterministic.
--   last_order  ts of the buyer's latest order line
--   recency     minutes from last_order to now (DOUBLE; 0 for the latest buyer)
--   frequency   distinct orders;  monetary  sum(amount)
--   r_score     NTILE(5) by last_order ascending, so the most recent buyers get 5
--   f_score     NTILE(5) by frequency ascending; m_score NTILE(5) by monetary ascending
--   ties within a score are broken by user_id, so the scores are deterministic
--   segment     'champions' r >= 4 and f >= 4; 'loyal' f >= 4; 'new' r >= 4 and f <= 2;
--               'at_risk' r <= 2 and f >= 3; 'hibernating' r <= 2 and f <= 2;
--               'potential' otherwise (first match wins, in this order)
WITH per_buyer AS (
    SELECT user_id,
           max(ts) AS last_order,
           count(DISTINCT order_id) AS frequency,
           sum(amount) AS monetary
    FROM orders
    GROUP BY user_id
),
scored AS (
    SELECT user_id,
           last_order,
           -- In microseconds (ts is TIMESTAMP(6)): date_part('epoch', interval) would drop
           -- the fraction of a second.
           (arrow_cast(max(last_order) OVER (), 'Int64') - arrow_cast(last_order, 'Int64'))
               / 60000000.0 AS recency,
           frequency,
           monetary,
           CAST(ntile(5) OVER (ORDER BY last_order, user_id) AS BIGINT) AS r_score,
           CAST(ntile(5) OVER (ORDER BY frequency, user_id) AS BIGINT) AS f_score,
           CAST(ntile(5) OVER (ORDER BY monetary, user_id) AS BIGINT) AS m_score
    FROM per_buyer
)
SELECT user_id,
       last_order,
       recency,
       frequency,
       monetary,
       r_score,
       f_score,
       m_score,
       CASE
           WHEN r_score >= 4 AND f_score >= 4 THEN 'champions'
           WHEN f_score >= 4 THEN 'loyal'
           WHEN r_score >= 4 AND f_score <= 2 THEN 'new'
           WHEN r_score <= 2 AND f_score >= 3 THEN 'at_risk'
           WHEN r_score <= 2 AND f_score <= 2 THEN 'hibernating'
           ELSE 'potential'
       END AS segment
FROM scored
