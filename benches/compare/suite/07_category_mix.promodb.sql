-- GMV per category and its share of the total (SKUs unknown to skus form the NULL row);
-- the built-in category_mix view.
SELECT category, gmv, share
FROM category_mix
ORDER BY gmv DESC, category NULLS LAST
