-- Check for 10_rfm_segments (compared, not timed): every buyer's scores and segment from the
-- customer_rfm view, so NTILE and the segment rules are shown equal buyer by buyer.
SELECT user_id, frequency, monetary, r_score, f_score, m_score, segment
FROM customer_rfm
ORDER BY user_id
