-- refund_rate: refunds per category (of the refunded SKU), on two bases:
--   refund_rate_value = refund_amount / gmv            (NULL when gmv = 0)
--   refund_rate_count = refunded_orders / orders       (NULL when orders = 0)
-- gmv and orders count the order lines of the category; refunded_orders counts the
-- distinct orders with a refund of a SKU of the category. SKUs missing from skus (or with
-- no category) form the NULL row.
WITH sales AS (
    SELECT k.category,
           sum(o.amount) AS gmv,
           count(DISTINCT o.order_id) AS orders
    FROM orders o
    LEFT JOIN skus k ON k.sku_id = o.sku_id
    GROUP BY k.category
),
returns AS (
    SELECT k.category,
           sum(r.amount) AS refund_amount,
           count(DISTINCT r.order_id) AS refunded_orders
    FROM refunds r
    LEFT JOIN skus k ON k.sku_id = r.sku_id
    GROUP BY k.category
),
joined AS (
    SELECT coalesce(s.category, r.category) AS category,
           coalesce(s.gmv, CAST(0 AS DECIMAL(28, 2))) AS gmv,
           coalesce(r.refund_amount, CAST(0 AS DECIMAL(28, 2))) AS refund_amount,
           coalesce(s.orders, 0) AS orders,
           coalesce(r.refunded_orders, 0) AS refunded_orders
    FROM sales s
    FULL OUTER JOIN returns r ON r.category IS NOT DISTINCT FROM s.category
)
SELECT category,
       gmv,
       refund_amount,
       safe_div(refund_amount, gmv) AS refund_rate_value,
       orders,
       refunded_orders,
       safe_div(refunded_orders, orders) AS refund_rate_count
FROM joined
