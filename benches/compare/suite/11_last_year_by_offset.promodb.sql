-- This year against last year, aligned by hours since promo start (2026-11-11 and
-- 2025-11-11 00:00 UTC; the offset runs past 23 for the late orders after midnight): GMV,
-- orders, running GMV, the same for last year, GMV / last year's, and the hourly target.
WITH ty AS (
    SELECT CAST(date_part('epoch', date_trunc('hour', ts) - TIMESTAMP '2026-11-11T00:00:00Z') / 3600 AS BIGINT) AS hour_offset,
           sum(amount) AS gmv,
           count(DISTINCT order_id) AS orders
    FROM orders
    GROUP BY 1
),
ly AS (
    SELECT CAST(date_part('epoch', date_trunc('hour', ts) - TIMESTAMP '2025-11-11T00:00:00Z') / 3600 AS BIGINT) AS hour_offset,
           sum(amount) AS gmv,
           count(DISTINCT order_id) AS orders
    FROM last_year_orders
    GROUP BY 1
),
target AS (
    SELECT CAST(date_part('epoch', hour - TIMESTAMP '2026-11-11T00:00:00Z') / 3600 AS BIGINT) AS hour_offset,
           gmv_target
    FROM targets
),
joined AS (
    SELECT coalesce(ty.hour_offset, ly.hour_offset) AS hour_offset,
           coalesce(ty.gmv, CAST(0 AS DECIMAL(28, 2))) AS gmv,
           coalesce(ty.orders, 0) AS orders,
           coalesce(ly.gmv, CAST(0 AS DECIMAL(28, 2))) AS ly_gmv,
           coalesce(ly.orders, 0) AS ly_orders
    FROM ty
    FULL OUTER JOIN ly ON ly.hour_offset = ty.hour_offset
)
SELECT j.hour_offset,
       j.gmv,
       j.orders,
       sum(j.gmv) OVER (ORDER BY j.hour_offset ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS gmv_to_date,
       j.ly_gmv,
       j.ly_orders,
       sum(j.ly_gmv) OVER (ORDER BY j.hour_offset ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS ly_gmv_to_date,
       safe_div(j.gmv, j.ly_gmv) AS gmv_vs_ly,
       t.gmv_target,
       safe_div(j.gmv, t.gmv_target) AS gmv_vs_target
FROM joined j
LEFT JOIN target t ON t.hour_offset = j.hour_offset
ORDER BY j.hour_offset
