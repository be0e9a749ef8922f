-- RFM segments of the promo's buyers (NTILE(5) quintiles, ties broken by user_id; now = the
-- latest order ts): buyers, orders, GMV and mean recency in minutes per segment; scores and
-- segments from the built-in customer_rfm view. Recency is recomputed from last_order in
-- whole microseconds: the view's recency column drops the sub-second part (DataFusion 55's
-- date_part('epoch', <Duration array>) truncates to whole seconds).
SELECT segment,
       count(*) AS buyers,
       sum(frequency) AS orders,
       sum(monetary) AS gmv,
       avg(recency_us / 60000000.0) AS avg_recency_minutes,
       sum(r_score) AS sum_r,
       sum(f_score) AS sum_f,
       sum(m_score) AS sum_m
FROM (
    SELECT segment, frequency, monetary, r_score, f_score, m_score,
           arrow_cast(max(last_order) OVER (), 'Int64') - arrow_cast(last_order, 'Int64') AS recency_us
    FROM customer_rfm
) rfm
GROUP BY segment
ORDER BY segment
