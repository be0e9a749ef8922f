//! Ad spend per minute, channel and campaign, consistent with the sessions each campaign
//! brought: clicks follow sessions, impressions follow the channel's CTR, cost its CPC.

use promodb::schema::Table;

use crate::rng::Rng;
use crate::shopping::{CAMPAIGNS_PER_CHANNEL, CHANNELS, PAID_CHANNELS, PROFILES};
use crate::table_writer::TableWriter;

const MINUTE: i64 = 60_000_000;

/// One row per minute and paid campaign.
pub(crate) fn ad_spend(
    paid_sessions: &[[u32; PAID_CHANNELS * CAMPAIGNS_PER_CHANNEL]],
    start: i64,
    rng: &mut Rng,
) -> TableWriter {
    let mut out = TableWriter::new(Table::AdSpend);
    for (minute, slots) in paid_sessions.iter().enumerate() {
        let ts = start + minute as i64 * MINUTE;
        for (slot, &sessions) in slots.iter().enumerate() {
            let channel = slot / CAMPAIGNS_PER_CHANNEL;
            let profile = PROFILES[channel];
            // Some clicks bounce before the landing page counts a session.
            let clicks = (f64::from(sessions) * (1.0 + 0.2 * rng.unit())).round() as i64;
            let impressions =
                (clicks as f64 / profile.ctr * (0.9 + 0.2 * rng.unit())).round() as i64;
            let cost = (clicks as f64 * profile.cpc_cents as f64 * (0.85 + 0.3 * rng.unit()))
                .round() as i64;
            let campaign = 100 * (channel as i64 + 1) + (slot % CAMPAIGNS_PER_CHANNEL) as i64 + 1;
            // Spend is reported when the minute closes.
            out.row(ts + MINUTE)
                .ts(ts)
                .text(Some(CHANNELS[channel]))
                .int(Some(campaign))
                .int(Some(impressions))
                .int(Some(clicks))
                .money(Some(cost));
        }
    }
    out
}
