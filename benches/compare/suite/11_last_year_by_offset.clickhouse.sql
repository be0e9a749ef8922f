-- This year against last year by hours since promo start, and the hourly target (see
-- .promodb.sql). dateDiff('hour', start, ts) counts hour boundaries, which for a start at
-- midnight and ts >= start is the whole hours since start.
WITH ty AS (
    SELECT dateDiff('hour', toDateTime64('2026-11-11 00:00:00', 6, 'UTC'), ts) AS hour_offset,
           sum(amount) AS ty_gmv,
           countDistinct(order_id) AS ty_orders
    FROM orders
    GROUP BY hour_offset
),
ly AS (
    SELECT dateDiff('hour', toDateTime64('2025-11-11 00:00:00', 6, 'UTC'), ts) AS hour_offset,
           sum(amount) AS ly_gmv_h,
           countDistinct(order_id) AS ly_orders_h
    FROM last_year_orders
    GROUP BY hour_offset
),
target AS (
    SELECT dateDiff('hour', toDateTime64('2026-11-11 00:00:00', 6, 'UTC'), hour) AS hour_offset, gmv_target
    FROM targets
),
joined AS (
    SELECT coalesce(ty.hour_offset, ly.hour_offset) AS h,
           coalesce(ty.ty_gmv, toDecimal128(0, 2)) AS gmv,
           coalesce(ty.ty_orders, 0) AS orders,
           coalesce(ly.ly_gmv_h, toDecimal128(0, 2)) AS ly_gmv,
           coalesce(ly.ly_orders_h, 0) AS ly_orders
    FROM ty
    FULL OUTER JOIN ly ON ly.hour_offset = ty.hour_offset
)
SELECT j.h AS hour_offset,
       j.gmv AS gmv,
       j.orders AS orders,
       sum(j.gmv) OVER (ORDER BY j.h ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS gmv_to_date,
       j.ly_gmv AS ly_gmv,
       j.ly_orders AS ly_orders,
       sum(j.ly_gmv) OVER (ORDER BY j.h ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS ly_gmv_to_date,
       toFloat64(j.gmv) / nullIf(toFloat64(j.ly_gmv), 0) AS gmv_vs_ly,
       t.gmv_target AS gmv_target,
       toFloat64(j.gmv) / nullIf(toFloat64(t.gmv_target), 0) AS gmv_vs_target
FROM joined j
LEFT JOIN target t ON t.hour_offset = j.h
ORDER BY hour_offset
SETTINGS join_use_nulls = 1
