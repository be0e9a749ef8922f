-- Payment success per method and hour: attempts, successes and success_rate (successes /
-- attempts), rolled up from the built-in per-minute payment_health view. A NULL method is
-- its own row, sorted last within its hour.
SELECT date_trunc('hour', minute) AS hour,
       method,
       sum(attempts) AS attempts,
       sum(successes) AS successes,
       safe_div(sum(successes), sum(attempts)) AS success_rate
FROM payment_health
GROUP BY date_trunc('hour', minute), method
ORDER BY hour, method NULLS LAST
