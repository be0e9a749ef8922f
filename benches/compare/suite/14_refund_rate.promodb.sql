-- Refunds per category of the refunded SKU, by value (refund amount / GMV) and by count
-- (refunded orders / orders); the built-in refund_rate view.
SELECT category, gmv, refund_amount, refund_rate_value, orders, refunded_orders, refund_rate_count
FROM refund_rate
ORDER BY category NULLS LAST
