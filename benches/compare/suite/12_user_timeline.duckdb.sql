-- One user's timeline (see .promodb.sql).
WITH my_orders AS (
    SELECT DISTINCT order_id FROM orders WHERE user_id = 476
)
SELECT ts, source, what, sku_id, order_id, amount, detail
FROM (
    SELECT ts, 'event' AS source, event_type AS what, sku_id,
           CAST(NULL AS BIGINT) AS order_id, CAST(NULL AS DECIMAL(18, 2)) AS amount,
           channel AS detail
    FROM user_events WHERE user_id = 476
    UNION ALL
    SELECT ts, 'order', 'line', sku_id, order_id, amount, channel
    FROM orders WHERE user_id = 476
    UNION ALL
    SELECT ts, 'payment', status, CAST(NULL AS BIGINT), order_id, amount, method
    FROM payments WHERE user_id = 476
    UNION ALL
    SELECT ts, 'refund', 'refund', sku_id, order_id, amount, reason
    FROM refunds WHERE order_id IN (SELECT order_id FROM my_orders)
    UNION ALL
    SELECT ts, 'shipment', stage, CAST(NULL AS BIGINT), order_id, CAST(NULL AS DECIMAL(18, 2)), warehouse
    FROM shipments WHERE order_id IN (SELECT order_id FROM my_orders)
    UNION ALL
    SELECT ts, 'ticket', kind, CAST(NULL AS BIGINT), order_id, CAST(NULL AS DECIMAL(18, 2)),
           CAST(satisfaction AS VARCHAR)
    FROM tickets WHERE user_id = 476
) timeline
ORDER BY ts, source, what, order_id NULLS FIRST, sku_id NULLS FIRST, amount NULLS FIRST, detail NULLS FIRST
