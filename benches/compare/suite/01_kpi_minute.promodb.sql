-- KPIs per minute, every minute from the first order to the last (gap-filled: a minute
-- without orders has gmv 0, orders 0, NULL aov/arpb): the built-in kpi_minute view.
SELECT minute, gmv, orders, buyers, units, aov, arpb
FROM kpi_minute
ORDER BY minute
