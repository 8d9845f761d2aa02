//! Every way a platform call can be refused, each with a stable code and a message a person can act on.
//! Each API surface maps these once (wallet, merchant, operator); none shows `Internal` text to a caller.

use std::fmt;

text_enum! {
    /// Why a request conflicts with the current state. The string is the code on the wire.
    pub enum Conflict {
        PhoneTaken => "PHONE_TAKEN",
        SignInFailed => "SIGN_IN_FAILED",
        PinNotSet => "PIN_NOT_SET",
        NotYoursToAccept => "NOT_YOURS_TO_ACCEPT",
        AlreadyMember => "ALREADY_MEMBER",
        AlreadyAccepted => "ALREADY_ACCEPTED",
        AlreadyDeclined => "ALREADY_DECLINED",
        AlreadyResolved => "ALREADY_RESOLVED",
        AlreadyClaimed => "ALREADY_CLAIMED",
        LimitSingle => "LIMIT_SINGLE",
        LimitDaily => "LIMIT_DAILY",
        LimitYearly => "LIMIT_YEARLY",
        IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
        RequestInProgress => "REQUEST_IN_PROGRESS",
        DocumentInUse => "DOCUMENT_IN_USE",
        MchidTaken => "MCHID_TAKEN",
        SerialTaken => "SERIAL_TAKEN",
        AppidTaken => "APPID_TAKEN",
        AppidMchidNotMatch => "APPID_MCHID_NOT_MATCH",
        OutTradeNoUsed => "OUT_TRADE_NO_USED",
        OrderPaid => "ORDER_PAID",
        OrderClosed => "ORDER_CLOSED",
        NotEnough => "NOT_ENOUGH",
        InvalidRequest => "INVALID_REQUEST",
        /// No rate is published for a pair (nor through the pivot).
        NoRate => "NO_RATE",
        /// The pair's rate is older than its maximum age.
        RateStale => "RATE_STALE",
        QuoteExpired => "QUOTE_EXPIRED",
        QuoteUsed => "QUOTE_USED",
        /// A region's rule forbids this (the message names the rule).
        RegionRule => "REGION_RULE",
        LimitCrossBorderDaily => "LIMIT_CROSS_BORDER_DAILY",
        LimitCrossBorderYearly => "LIMIT_CROSS_BORDER_YEARLY",
        /// A partner network did not answer (nothing was paid): try again.
        NetworkUnreachable => "NETWORK_UNREACHABLE",
        /// A partner network's payment id was used for another payment.
        NetworkRequestReused => "NETWORK_REQUEST_REUSED",
        /// An order paid by a partner network's wallet is refunded through that network.
        NetworkRefundUnsupported => "NETWORK_REFUND_UNSUPPORTED",
        /// A merchant already has a console user of that name (or as many users as it may).
        UsernameTaken => "USERNAME_TAKEN",
        /// The operator has a second factor and the sign-in carried no code.
        TotpRequired => "TOTP_REQUIRED",
        /// The person is frozen: no money out (and in, unless the freeze allows it).
        AccountFrozen => "ACCOUNT_FROZEN",
        CardFrozen => "CARD_FROZEN",
        MerchantFrozen => "MERCHANT_FROZEN",
        AlreadyFrozen => "ALREADY_FROZEN",
        /// The merchant's daily cap on takings is reached.
        MerchantCapReached => "MERCHANT_CAP_REACHED",
        /// A wallet is closed only when nothing remains in it.
        BalanceRemains => "BALANCE_REMAINS",
        /// A risk rule declined the payment (the message names it).
        RiskDeclined => "RISK_DECLINED",
        /// The transfer is held for a risk review: it cannot be accepted or declined until a reviewer
        /// releases it (or returns the money to its sender).
        HeldForReview => "HELD_FOR_REVIEW",
        /// The review was decided already.
        ReviewDecided => "REVIEW_DECIDED",
        /// Screening found a possible sanctions match for the payee: a reviewer must clear it first.
        ScreeningReview => "SCREENING_REVIEW",
        /// The merchant is a charity already, or the registration is another charity's.
        CharityRegistered => "CHARITY_REGISTERED",
        /// The charity is suspended: it takes no donations.
        CharitySuspended => "CHARITY_SUSPENDED",
        /// The campaign has not started or has ended.
        CampaignClosed => "CAMPAIGN_CLOSED",
        /// The charity already used this `out_campaign_no` for another campaign.
        CampaignNoUsed => "CAMPAIGN_NO_USED",
        /// The campaign has a sponsor's match already.
        MatchPledged => "MATCH_PLEDGED",
        /// The gift was refunded already (it cannot also be charged back).
        DonationRefunded => "DONATION_REFUNDED",
        /// The monthly donation was stopped (or lapsed, or its campaign ended).
        RecurringStopped => "RECURRING_STOPPED",
        /// The charity withdrew the Inspired Gift, or it is another item's number.
        GiftWithdrawn => "GIFT_WITHDRAWN",
        /// The charity already used this `out_item_no` for another item.
        GiftItemNoUsed => "GIFT_ITEM_NO_USED",
        /// The gift card was thanked for already.
        GiftThanked => "GIFT_THANKED",
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformError {
    /// A field is missing, malformed or out of range.
    Invalid {
        field: &'static str,
        message: String,
    },
    /// No valid session.
    Unauthorized,
    /// Not allowed for this person (not a friend, not a group member, someone else's transfer ...).
    Forbidden(String),
    NotFound(&'static str),
    /// The request conflicts with the current state (phone taken, already accepted, already claimed ...).
    Conflict {
        code: Conflict,
        message: String,
    },
    /// A payment needs the PIN and none was given.
    PinRequired,
    PinWrong {
        attempts_left: u32,
    },
    PinLocked {
        until_ms: i64,
    },
    /// The wallet does not hold enough.
    InsufficientBalance,
    /// Past its deadline (a transfer to accept, a packet to claim).
    Expired(&'static str),
    /// Nothing left (every share of a red packet is claimed).
    Exhausted,
    /// The rail (card acquirer, bank) refused.
    Declined(String),
    /// Too many attempts (sign-in): try again after this many seconds.
    TooManyAttempts {
        retry_after_s: u64,
    },
    /// The database cannot be reached or the committer stopped: nothing was done; retry later.
    Unavailable,
    /// A bug or a broken invariant: the detail is for the server log only.
    Internal(String),
}

impl PlatformError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> PlatformError {
        PlatformError::Invalid { field, message: message.into() }
    }

    pub fn conflict(code: Conflict, message: impl Into<String>) -> PlatformError {
        PlatformError::Conflict { code, message: message.into() }
    }

    /// The stable code on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            PlatformError::Invalid { .. } => "PARAM_ERROR",
            PlatformError::Unauthorized => "UNAUTHORIZED",
            PlatformError::Forbidden(_) => "FORBIDDEN",
            PlatformError::NotFound(_) => "NOT_FOUND",
            PlatformError::Conflict { code, .. } => code.as_str(),
            PlatformError::PinRequired => "PIN_REQUIRED",
            PlatformError::PinWrong { .. } => "PIN_WRONG",
            PlatformError::PinLocked { .. } => "PIN_LOCKED",
            PlatformError::InsufficientBalance => "NOT_ENOUGH",
            PlatformError::Expired(_) => "EXPIRED",
            PlatformError::Exhausted => "EXHAUSTED",
            PlatformError::Declined(_) => "DECLINED",
            PlatformError::TooManyAttempts { .. } => "TOO_MANY_ATTEMPTS",
            PlatformError::Unavailable => "UNAVAILABLE",
            PlatformError::Internal(_) => "SYSTEM_ERROR",
        }
    }

    /// Whether this is the platform's own failure (to log; the caller sees a generic answer).
    pub fn is_internal(&self) -> bool {
        matches!(self, PlatformError::Internal(_))
    }
}

impl fmt::Display for PlatformError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlatformError::Invalid { field, message } => write!(f, "{field}: {message}"),
            PlatformError::Unauthorized => write!(f, "sign in first (Authorization: Bearer <session token>)"),
            PlatformError::Forbidden(m) => write!(f, "{m}"),
            PlatformError::NotFound(what) => write!(f, "no such {what}"),
            PlatformError::Conflict { message, .. } => write!(f, "{message}"),
            PlatformError::PinRequired => write!(f, "this payment needs your payment PIN"),
            PlatformError::PinWrong { attempts_left } => write!(f, "wrong PIN; {attempts_left} attempts left before the PIN is locked"),
            PlatformError::PinLocked { until_ms } => {
                write!(f, "too many wrong PINs: payments are locked until {until_ms} (ms since epoch)")
            }
            PlatformError::InsufficientBalance => write!(f, "insufficient balance"),
            PlatformError::Expired(what) => write!(f, "this {what} has expired"),
            PlatformError::Exhausted => write!(f, "every share has been claimed"),
            PlatformError::Declined(m) => write!(f, "declined by the card issuer: {m}"),
            PlatformError::TooManyAttempts { retry_after_s } => write!(f, "too many attempts: try again in {retry_after_s} s"),
            PlatformError::Unavailable => write!(f, "the service is unavailable (its database cannot be reached): retry later"),
            PlatformError::Internal(m) => write!(f, "internal error: {m}"),
        }
    }
}

impl std::error::Error for PlatformError {}

impl From<store::StoreError> for PlatformError {
    fn from(e: store::StoreError) -> PlatformError {
        if e.is_unavailable() { PlatformError::Unavailable } else { PlatformError::Internal(e.to_string()) }
    }
}

impl From<money::MoneyError> for PlatformError {
    fn from(e: money::MoneyError) -> PlatformError {
        PlatformError::Internal(format!("a stored amount: {e}"))
    }
}
