-- Check for 10_rfm_segments: every buyer's scores and segment (the CTEs of
-- 10_rfm_segments.clickhouse.sql).
WITH per_buyer AS (
    SELECT user_id,
           max(ts) AS last_order,
           countDistinct(order_id) AS frequency,
           sum(amount) AS monetary
    FROM orders
    GROUP BY user_id
),
scored AS (
    SELECT user_id,
           (toUnixTimestamp64Micro(max(last_order) OVER ()) - toUnixTimestamp64Micro(last_order)) / 60000000.0 AS recency,
           frequency,
           monetary,
           ntile(5) OVER (ORDER BY last_order, user_id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS r_score,
           ntile(5) OVER (ORDER BY frequency, user_id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS f_score,
           ntile(5) OVER (ORDER BY monetary, user_id ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS m_score
    FROM per_buyer
),
segmented AS (
    SELECT *,
           multiIf(r_score >= 4 AND f_score >= 4, 'champions',
                   f_score >= 4, 'loyal',
                   r_score >= 4 AND f_score <= 2, 'new',
                   r_score <= 2 AND f_score >= 3, 'at_risk',
                   r_score <= 2 AND f_score <= 2, 'hibernating',
                   'potential') AS segment
    FROM scored
)
SELECT user_id, frequency, monetary, r_score, f_score, m_score, segment
FROM segmented
ORDER BY user_id
