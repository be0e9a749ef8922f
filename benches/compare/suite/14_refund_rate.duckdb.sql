-- Refund rate per category of the refunded SKU (see .promodb.sql and the refund_rate view).
WITH sales AS (
    SELECT k.category, sum(o.amount) AS gmv, count(DISTINCT o.order_id) AS orders
    FROM orders o
    LEFT JOIN skus k ON k.sku_id = o.sku_id
    GROUP BY k.category
),
returns AS (
    SELECT k.category, sum(r.amount) AS refund_amount, count(DISTINCT r.order_id) AS refunded_orders
    FROM refunds r
    LEFT JOIN skus k ON k.sku_id = r.sku_id
    GROUP BY k.category
),
joined AS (
    SELECT coalesce(s.category, r.category) AS category,
           coalesce(s.gmv, CAST(0 AS DECIMAL(38, 2))) AS gmv,
           coalesce(r.refund_amount, CAST(0 AS DECIMAL(38, 2))) AS refund_amount,
           coalesce(s.orders, 0) AS orders,
           coalesce(r.refunded_orders, 0) AS refunded_orders
    FROM sales s
    FULL OUTER JOIN returns r ON r.category IS NOT DISTINCT FROM s.category
)
SELECT category,
       gmv,
       refund_amount,
       CAST(refund_amount AS DOUBLE) / NULLIF(CAST(gmv AS DOUBLE), 0) AS refund_rate_value,
       orders,
       refunded_orders,
       CAST(refunded_orders AS DOUBLE) / NULLIF(CAST(orders AS DOUBLE), 0) AS refund_rate_count
FROM joined
ORDER BY category NULLS LAST
