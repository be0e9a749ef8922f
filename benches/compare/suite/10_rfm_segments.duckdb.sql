-- RFM segments (see .promodb.sql and the customer_rfm view); recency in microseconds / 6e7.
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
SELECT segment,
       count(*) AS buyers,
       sum(frequency) AS orders,
       sum(monetary) AS gmv,
       avg(recency) AS avg_recency_minutes,
       sum(r_score) AS sum_r,
       sum(f_score) AS sum_f,
       sum(m_score) AS sum_m
FROM segmented
GROUP BY segment
ORDER BY segment
