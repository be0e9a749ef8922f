-- Refund rate per category of the refunded SKU (see .promodb.sql). The NULL category matches
-- itself in the join (isNotDistinctFrom), as in the view.
WITH sales AS (
    SELECT k.category AS category, sum(o.amount) AS sales_gmv, countDistinct(o.order_id) AS sales_orders
    FROM orders o
    LEFT JOIN skus k ON k.sku_id = o.sku_id
    GROUP BY k.category
),
returns AS (
    SELECT k.category AS category, sum(r.amount) AS returns_amount, countDistinct(r.order_id) AS returns_orders
    FROM refunds r
    LEFT JOIN skus k ON k.sku_id = r.sku_id
    GROUP BY k.category
),
joined AS (
    SELECT coalesce(s.category, r.category) AS cat,
           coalesce(s.sales_gmv, toDecimal128(0, 2)) AS gmv,
           coalesce(r.returns_amount, toDecimal128(0, 2)) AS refund_amount,
           coalesce(s.sales_orders, 0) AS orders,
           coalesce(r.returns_orders, 0) AS refunded_orders
    FROM sales s
    FULL OUTER JOIN returns r ON isNotDistinctFrom(r.category, s.category)
)
SELECT cat AS category,
       gmv,
       refund_amount,
       toFloat64(refund_amount) / nullIf(toFloat64(gmv), 0) AS refund_rate_value,
       orders,
       refunded_orders,
       toFloat64(refunded_orders) / nullIf(toFloat64(orders), 0) AS refund_rate_count
FROM joined
ORDER BY category NULLS LAST
SETTINGS join_use_nulls = 1
