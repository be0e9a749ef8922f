-- payment_health: payment attempts per minute and method (a NULL method is its own row).
-- success_rate = successes / attempts, with successes the attempts of status 'success'.
SELECT date_trunc('minute', ts) AS minute,
       method,
       count(*) AS attempts,
       count(*) FILTER (WHERE status = 'success') AS successes,
       safe_div(count(*) FILTER (WHERE status = 'success'), count(*)) AS success_rate
FROM payments
GROUP BY date_trunc('minute', ts), method
