-- kpi_minute: headline sales KPIs per minute, every minute from the first order to the
-- last (a minute without orders shows gmv 0, so a stall is visible, not missing).
-- aov = gmv / orders and arpb = gmv / buyers are NULL when the minute has no orders.
WITH per_minute AS (
    SELECT date_trunc('minute', ts) AS minute,
           sum(amount) AS gmv,
           count(DISTINCT order_id) AS orders,
           count(DISTINCT user_id) AS buyers,
           sum(qty) AS units
    FROM orders
    GROUP BY date_trunc('minute', ts)
),
-- The first and last minutes from the first and last order (truncating keeps order):
-- min(ts) and max(ts) are answered from the statistics of attached files, where a second
-- grouping by minute decoded every ts again.
minutes AS (
    SELECT arrow_cast(
               unnest(generate_series(date_trunc('minute', min(ts)),
                                      date_trunc('minute', max(ts)), INTERVAL '1 minute')),
               'Timestamp(Microsecond, Some("UTC"))') AS minute
    FROM orders
)
SELECT m.minute,
       coalesce(p.gmv, CAST(0 AS DECIMAL(28, 2))) AS gmv,
       coalesce(p.orders, 0) AS orders,
       coalesce(p.buyers, 0) AS buyers,
       coalesce(p.units, 0) AS units,
       safe_div(p.gmv, p.orders) AS aov,
       safe_div(p.gmv, p.buyers) AS arpb
FROM minutes m
LEFT JOIN per_minute p ON p.minute = m.minute
