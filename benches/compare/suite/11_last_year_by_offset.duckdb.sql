-- This year against last year by hours since promo start, and the hourly target (see
-- .promodb.sql). date_diff('hour', start, ts) counts hour boundaries, which for a start at
-- midnight and ts >= start is the whole hours since start.
WITH ty AS (
    SELECT date_diff('hour', TIMESTAMPTZ '2026-11-11 00:00:00+00', ts) AS hour_offset,
           sum(amount) AS gmv,
           count(DISTINCT order_id) AS orders
    FROM orders
    GROUP BY 1
),
ly AS (
    SELECT date_diff('hour', TIMESTAMPTZ '2025-11-11 00:00:00+00', ts) AS hour_offset,
           sum(amount) AS gmv,
           count(DISTINCT order_id) AS orders
    FROM last_year_orders
    GROUP BY 1
),
target AS (
    SELECT date_diff('hour', TIMESTAMPTZ '2026-11-11 00:00:00+00', hour) AS hour_offset, gmv_target
    FROM targets
),
joined AS (
    SELECT coalesce(ty.hour_offset, ly.hour_offset) AS hour_offset,
           coalesce(ty.gmv, CAST(0 AS DECIMAL(38, 2))) AS gmv,
           coalesce(ty.orders, 0) AS orders,
           coalesce(ly.gmv, CAST(0 AS DECIMAL(38, 2))) AS ly_gmv,
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
       CAST(j.gmv AS DOUBLE) / NULLIF(CAST(j.ly_gmv AS DOUBLE), 0) AS gmv_vs_ly,
       t.gmv_target,
       CAST(j.gmv AS DOUBLE) / NULLIF(CAST(t.gmv_target AS DOUBLE), 0) AS gmv_vs_target
FROM joined j
LEFT JOIN target t ON t.hour_offset = j.hour_offset
ORDER BY j.hour_offset
