-- Check for 10_rfm_segments: every buyer's scores and segment (the CTEs of
-- 10_rfm_segments.duckdb.sql).
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
           (epoch_us(max(last_order) OVER ()) - epoch_us(last_order)) / 60000000.0 AS recency,
           frequency,
           monetary,
           ntile(5) OVER (ORDER BY last_order, user_id) AS r_score,
           ntile(5) OVER (ORDER BY frequency, user_id) AS f_score,
           ntile(5) OVER (ORDER BY monetary, user_id) AS m_score
    FROM per_buyer
),
segmented AS (
    SELECT *,
           CASE
               WHEN r_score >= 4 AND f_score >= 4 THEN 'champions'
               WHEN f_score >= 4 THEN 'loyal'
               WHEN r_score >= 4 AND f_score <= 2 THEN 'new'
               WHEN r_score <= 2 AND f_score >= 3 THEN 'at_risk'
               WHEN r_score <= 2 AND f_score <= 2 THEN 'hibernating'
               ELSE 'potential'
           END AS segment
    FROM scored
)
SELECT user_id, frequency, monetary, r_score, f_score, m_score, segment
FROM segmented
ORDER BY user_id
