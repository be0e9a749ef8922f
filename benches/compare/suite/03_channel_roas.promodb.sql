-- Channel efficiency over the promo: ad spend (ad_spend) joined with attributed sales
-- (orders.channel) and their cost of goods (skus.unit_cost): ctr, cvr, cpc, cpa, ROAS and
-- profit-basis ROI; the built-in channel_performance view. The NULL channel (unattributed
-- orders) sorts last.
SELECT channel, impressions, clicks, cost, orders, gmv, cogs, ctr, cvr, cpc, cpa, roas, roi
FROM channel_performance
ORDER BY channel NULLS LAST
