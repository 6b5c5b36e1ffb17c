/*
 * demo.c - the deterministic demo catalog behind `hbk-admin init --demo`.
 *
 * Demos, end-to-end tests and benchmarks need a catalog that looks real and
 * is the same on every machine and every run, so nothing here reads the
 * clock or the OS random source. Every choice about a hotel comes from a
 * splitmix64 generator seeded with a fixed constant and the hotel's code,
 * so one hotel never depends on another; nightly noise and allotments come
 * from a hash of the hotel, the room type and the absolute night, so two
 * seedings with overlapping ranges agree on the nights they share.
 *
 * Fixed points that tests and the demo script may rely on:
 *   H-LIS-0001      4 stars; refundable rates (free cancellation until 3
 *                   days before check-in) and a non-refundable rate; rooms
 *                   SGL DBL TWN FAM; boards RO BB HB; no blackout, and every
 *                   room for sale on the first 60 nights.
 *   H-<CITY>-0002   refundable rates only (nrf_discount_pct 0).
 *   H-<CITY>-0003   non-refundable rates only (sells_refundable 0).
 *
 * Prices are whole units of the city's currency (whole hundreds of yen),
 * converted to minor units with the currency's exponent, so JPY prices are
 * whole yen and EUR prices whole euros expressed in cents.
 */
#include <stdlib.h>
#include <string.h>

#include "hbk/inventory.h"

/* "hbk-demo" in ASCII: any fixed value would do, this one is recognisable. */
#define DEMO_SEED		   0x68626b2d64656d6fULL
#define DEMO_HOTELS_PER_CITY	   15
#define DEMO_DAYS_MAX		   1096 /* three years of nights: about 2.8 million rows */
/* A hotel's nights are one event (events.c). */
_Static_assert(DEMO_DAYS_MAX <= HBK_INVENTORY_EVENT_NIGHTS_MAX, "demo nights fit one event");
#define DEMO_PLACES		   8
#define DEMO_STREETS		   4
#define DEMO_NAME_ATTEMPTS_MAX	   32
#define DEMO_LIS_0001_CLEAR_NIGHTS 60

struct demo_city {
	const char *code; /* IATA city code */
	const char *name;
	const char *country; /* ISO 3166 alpha-2 */
	const char *currency;
	int dbl_major;	   /* a 3-star double, weekday, shoulder season */
	int round_major;   /* prices are multiples of this many major units */
	bool hot_summer;   /* summer is the low season (the Gulf) */
	bool ai_resorts;   /* all-inclusive is common */
	bool number_first; /* "12 Oxford Street" rather than "Via Veneto 12" */
	const char *places[DEMO_PLACES];
	const char *streets[DEMO_STREETS];
};

/* Price levels are what a 3-star double costs on a weekday in spring. */
// clang-format off
static const struct demo_city demo_cities[] = {
	{.code = "LIS", .name = "Lisbon", .country = "PT", .currency = "EUR",
	 .dbl_major = 95, .round_major = 1,
	 .places = {"Alfama", "Chiado", "Baixa", "Belem", "Tagus", "Estrela", "Graca",
	            "Principe Real"},
	 .streets = {"Rua Augusta", "Avenida da Liberdade", "Rua do Alecrim", "Rua da Prata"}},
	{.code = "OPO", .name = "Porto", .country = "PT", .currency = "EUR",
	 .dbl_major = 85, .round_major = 1,
	 .places = {"Ribeira", "Douro", "Bolhao", "Foz", "Aliados", "Cedofeita", "Miragaia",
	            "Clerigos"},
	 .streets = {"Rua de Santa Catarina", "Avenida dos Aliados", "Rua das Flores",
	             "Rua de Cedofeita"}},
	{.code = "MAD", .name = "Madrid", .country = "ES", .currency = "EUR",
	 .dbl_major = 110, .round_major = 1,
	 .places = {"Retiro", "Gran Via", "Salamanca", "Sol", "Chueca", "Prado", "Malasana",
	            "Opera"},
	 .streets = {"Calle de Alcala", "Gran Via", "Calle Mayor", "Paseo del Prado"}},
	{.code = "BCN", .name = "Barcelona", .country = "ES", .currency = "EUR",
	 .dbl_major = 130, .round_major = 1,
	 .places = {"Eixample", "Gracia", "Born", "Barceloneta", "Ramblas", "Gotic", "Montjuic",
	            "Sagrada"},
	 .streets = {"Passeig de Gracia", "La Rambla", "Carrer de Balmes", "Avinguda Diagonal"}},
	{.code = "PAR", .name = "Paris", .country = "FR", .currency = "EUR",
	 .dbl_major = 170, .round_major = 1, .number_first = true,
	 .places = {"Marais", "Montmartre", "Opera", "Louvre", "Saint-Germain", "Bastille", "Seine",
	            "Concorde"},
	 .streets = {"Rue de Rivoli", "Boulevard Haussmann", "Rue Saint-Honore",
	             "Avenue de l'Opera"}},
	{.code = "ROM", .name = "Rome", .country = "IT", .currency = "EUR",
	 .dbl_major = 140, .round_major = 1,
	 .places = {"Trastevere", "Colosseo", "Navona", "Pantheon", "Monti", "Borghese", "Tevere",
	            "Spagna"},
	 .streets = {"Via del Corso", "Via Nazionale", "Via Veneto", "Via Cavour"}},
	{.code = "MIL", .name = "Milan", .country = "IT", .currency = "EUR",
	 .dbl_major = 150, .round_major = 1,
	 .places = {"Brera", "Duomo", "Navigli", "Scala", "Sforza", "Isola", "Magenta",
	            "Porta Nuova"},
	 .streets = {"Via Montenapoleone", "Corso Buenos Aires", "Via Torino", "Corso Magenta"}},
	{.code = "BER", .name = "Berlin", .country = "DE", .currency = "EUR",
	 .dbl_major = 115, .round_major = 1,
	 .places = {"Mitte", "Kreuzberg", "Tiergarten", "Spree", "Prenzlauer", "Charlottenburg",
	            "Friedrichshain", "Gendarmenmarkt"},
	 .streets = {"Friedrichstrasse", "Unter den Linden", "Kurfuerstendamm", "Torstrasse"}},
	{.code = "AMS", .name = "Amsterdam", .country = "NL", .currency = "EUR",
	 .dbl_major = 165, .round_major = 1,
	 .places = {"Jordaan", "Dam", "Canal", "Vondel", "Amstel", "Pijp", "Museum", "Westerpark"},
	 .streets = {"Damrak", "Prinsengracht", "Herengracht", "Kalverstraat"}},
	{.code = "LON", .name = "London", .country = "GB", .currency = "GBP",
	 .dbl_major = 150, .round_major = 1, .number_first = true,
	 .places = {"Covent Garden", "Kensington", "Mayfair", "Thames", "Soho", "Bloomsbury",
	            "Chelsea", "Westminster"},
	 .streets = {"Oxford Street", "Strand", "Baker Street", "Piccadilly"}},
	{.code = "NYC", .name = "New York", .country = "US", .currency = "USD",
	 .dbl_major = 240, .round_major = 1, .number_first = true,
	 .places = {"Midtown", "Hudson", "SoHo", "Chelsea", "Central Park", "Tribeca", "Gramercy",
	            "Battery"},
	 .streets = {"Broadway", "Fifth Avenue", "Lexington Avenue", "West 44th Street"}},
	{.code = "TYO", .name = "Tokyo", .country = "JP", .currency = "JPY",
	 .dbl_major = 19000, .round_major = 100,
	 .places = {"Shinjuku", "Ginza", "Asakusa", "Shibuya", "Ueno", "Akasaka", "Roppongi",
	            "Sumida"},
	 .streets = {"Chuo-dori", "Meiji-dori", "Omotesando", "Yasukuni-dori"}},
	{.code = "DXB", .name = "Dubai", .country = "AE", .currency = "AED",
	 .dbl_major = 550, .round_major = 5, .number_first = true,
	 .hot_summer = true, .ai_resorts = true,
	 .places = {"Marina", "Creek", "Jumeirah", "Deira", "Palm", "Downtown", "Al Barsha",
	            "Bur Dubai"},
	 .streets = {"Sheikh Zayed Road", "Al Wasl Road", "Jumeirah Beach Road",
	             "Al Khaleej Road"}},
	{.code = "PRG", .name = "Prague", .country = "CZ", .currency = "CZK",
	 .dbl_major = 2500, .round_major = 10,
	 .places = {"Vltava", "Mala Strana", "Old Town", "Charles Bridge", "Vinohrady", "Hradcany",
	            "Josefov", "Karlin"},
	 .streets = {"Vaclavske namesti", "Narodni", "Parizska", "Karlova"}},
};
// clang-format on

#define DEMO_CITIES ((int)(sizeof(demo_cities) / sizeof(demo_cities[0])))
#define DEMO_HOTELS (DEMO_CITIES * DEMO_HOTELS_PER_CITY)

enum demo_room_kind { ROOM_SGL, ROOM_DBL, ROOM_TWN, ROOM_TRP, ROOM_FAM, ROOM_STE, ROOM_KINDS };

struct demo_room_kind_info {
	const char *code;
	const char *name;
	int capacity;
	int max_children;
	int price_pm; /* per mille of a double */
	int rooms_min, rooms_max;
};

/* The suite's capacity is decided per hotel; this row is the small suite. */
static const struct demo_room_kind_info demo_room_kinds[ROOM_KINDS] = {
    [ROOM_SGL] = {"SGL", "Single Room", 1, 0, 750, 5, 15},
    [ROOM_DBL] = {"DBL", "Double Room", 2, 1, 1000, 10, 40},
    [ROOM_TWN] = {"TWN", "Twin Room", 2, 1, 1000, 5, 25},
    [ROOM_TRP] = {"TRP", "Triple Room", 3, 1, 1300, 5, 12},
    [ROOM_FAM] = {"FAM", "Family Room", 4, 2, 1550, 5, 12},
    [ROOM_STE] = {"STE", "Junior Suite", 2, 1, 2000, 5, 8},
};

enum demo_board_kind { BOARD_RO, BOARD_BB, BOARD_HB, BOARD_FB, BOARD_AI, BOARD_KINDS };

/* Supplements per adult per night, per mille of the city's double: they rise
 * in this order, which search and pricing are entitled to assume. */
// clang-format off
static const struct {
	const char *code;
	const char *name;
	int supplement_pm;
} demo_boards[BOARD_KINDS] = {
	[BOARD_RO] = {"RO", "Room only", 0},
	[BOARD_BB] = {"BB", "Bed and breakfast", 140},
	[BOARD_HB] = {"HB", "Half board", 330},
	[BOARD_FB] = {"FB", "Full board", 520},
	[BOARD_AI] = {"AI", "All inclusive", 780},
};
// clang-format on

static const char *const demo_nouns_budget[] = {"Inn", "Lodge", "House", "Rooms", "Stay"};
static const char *const demo_nouns_mid[] = {"Hotel", "Garden", "Plaza", "Square",
					     "View",  "Gate",	"Court"};
static const char *const demo_nouns_luxury[] = {"Palace", "Residence",	"Suites",
						"Plaza",  "Collection", "Grand Hotel"};
static const char *const demo_adjectives[] = {"Blue", "Golden", "Royal",  "Little",
					      "Old",  "Quiet",	"Silver", "Green"};
static const char *const demo_brands[] = {"Aurora", "Atlas", "Harbour",
					  "Nova",   "Urban", "Meridian"};
static const char *const demo_blackout_reasons[] = {"renovation", "private event", "maintenance",
						    "closed for a festival"};

#define COUNT_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ------------------------------------------------------------------------
 * Determinism: splitmix64 for per-hotel choices, its finalizer as a hash.
 */
struct demo_rng {
	uint64_t state;
};

static uint64_t demo_mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t demo_next(struct demo_rng *rng)
{
	rng->state += 0x9e3779b97f4a7c15ULL;
	return demo_mix(rng->state);
}

/* A number in [0, n); the modulo bias is far below anything a demo shows. */
static int demo_below(struct demo_rng *rng, int n)
{
	HBK_ASSERT(n > 0);
	return (int)(demo_next(rng) % (uint64_t)n);
}

static int demo_between(struct demo_rng *rng, int low, int high)
{
	HBK_ASSERT(low <= high);
	return low + demo_below(rng, high - low + 1);
}

/* The hash behind nightly noise and allotments: a function of the absolute
 * night, not of its offset from `from`, so overlapping seedings agree. */
static uint64_t demo_night_hash(int hotel_code, int room_kind, hbk_date night)
{
	uint64_t key = DEMO_SEED ^ ((uint64_t)(uint32_t)hotel_code << 40) ^
		       ((uint64_t)(uint32_t)room_kind << 32) ^ (uint64_t)(uint32_t)night;
	return demo_mix(demo_mix(key));
}

/* ------------------------------------------------------------------------
 * One hotel, generated in memory before it is written.
 */
struct demo_room {
	int kind;
	const char *name;
	int capacity;
	int max_children;
	int total_rooms;
	int price_pm;
};

struct demo_board {
	int kind;
	int64_t supplement_major; /* whole units of the city's currency */
};

struct demo_hotel {
	char id[HBK_HOTEL_ID_MAX];
	int code;
	char name[96];
	char address[128];
	int stars;
	int free_cancel_days;
	bool sells_refundable;
	int nrf_discount_pct;
	int level_pm;		/* this hotel's prices against others of its stars */
	bool keep_first_nights; /* every room for sale on the first nights */
	int room_count;
	struct demo_room rooms[ROOM_KINDS];
	int board_count;
	struct demo_board boards[BOARD_KINDS];
	int blackout_offset; /* first blackout night - from */
	int blackout_nights; /* 0: none */
	const char *blackout_reason;
};

static int demo_star_pm(int stars)
{
	static const int star_pm[] = {0, 450, 600, 1000, 1450, 2300};
	HBK_ASSERT(stars >= 1 && stars <= 5);
	return star_pm[stars];
}

/* Rounds milli-units of the major unit to a multiple of round_major, never
 * below one step, and returns whole major units. */
static int64_t demo_round_major(int64_t milli, int round_major)
{
	int64_t step_milli = (int64_t)round_major * 1000;
	int64_t major = (milli + step_milli / 2) / step_milli * round_major;
	return major < round_major ? round_major : major;
}

static int demo_pick_stars(struct demo_rng *rng)
{
	int r = demo_below(rng, 100);
	if (r < 15)
		return 2;
	if (r < 50)
		return 3;
	if (r < 85)
		return 4;
	return 5;
}

static const char *demo_pick_noun(struct demo_rng *rng, int stars)
{
	if (stars <= 2)
		return demo_nouns_budget[demo_below(rng, COUNT_OF(demo_nouns_budget))];
	if (stars >= 5 || (stars == 4 && demo_below(rng, 2) == 0))
		return demo_nouns_luxury[demo_below(rng, COUNT_OF(demo_nouns_luxury))];
	return demo_nouns_mid[demo_below(rng, COUNT_OF(demo_nouns_mid))];
}

static void demo_make_name(struct demo_rng *rng, const struct demo_city *city, int stars, char *out,
			   size_t size)
{
	const char *place = city->places[demo_below(rng, DEMO_PLACES)];
	const char *noun = demo_pick_noun(rng, stars);
	int pattern = demo_below(rng, 5);

	/* "Grand" on a two-star inn would be a joke, not a name. */
	if (pattern == 2 && stars < 4)
		pattern = 0;
	switch (pattern) {
	case 0:
		if (strcmp(noun, "Hotel") == 0 || strcmp(noun, "Grand Hotel") == 0)
			hbk_format(out, size, "%s %s", place, noun);
		else
			hbk_format(out, size, "Hotel %s %s", place, noun);
		break;
	case 1: hbk_format(out, size, "%s %s", place, noun); break;
	case 2: hbk_format(out, size, "Grand %s Palace", place); break;
	case 3:
		hbk_format(out, size, "The %s %s",
			   demo_adjectives[demo_below(rng, COUNT_OF(demo_adjectives))], noun);
		break;
	default:
		hbk_format(out, size, "%s %s", demo_brands[demo_below(rng, COUNT_OF(demo_brands))],
			   place);
		break;
	}
}

/* Names are unique within a city so that search results can be told apart. */
static void demo_unique_name(struct demo_rng *rng, const struct demo_city *city, int stars,
			     char taken[][96], int taken_count, char *out, size_t size)
{
	for (int attempt = 0; attempt < DEMO_NAME_ATTEMPTS_MAX; attempt++) {
		bool clash = false;
		demo_make_name(rng, city, stars, out, size);
		for (int i = 0; i < taken_count && !clash; i++)
			clash = strcmp(taken[i], out) == 0;
		if (!clash)
			return;
	}
	/* Unreachable with the word lists above, but bounded all the same. */
	char base[96];
	hbk_copy(base, sizeof(base), out);
	hbk_format(out, size, "%.80s %d", base, taken_count + 1);
}

static void demo_pick_rooms(struct demo_rng *rng, struct demo_hotel *hotel, bool fixed)
{
	bool chosen[ROOM_KINDS] = {false};

	if (fixed) {
		chosen[ROOM_SGL] = chosen[ROOM_DBL] = chosen[ROOM_TWN] = chosen[ROOM_FAM] = true;
	} else {
		/* Every hotel sells doubles; the rest is a partial shuffle. */
		int others[] = {ROOM_SGL, ROOM_TWN, ROOM_TRP, ROOM_FAM, ROOM_STE};
		int other_count = COUNT_OF(others);
		int want = demo_between(rng, 3, 6) - 1;
		chosen[ROOM_DBL] = true;
		for (int i = 0; i < want; i++) {
			int j = i + demo_below(rng, other_count - i);
			int swap = others[i];
			others[i] = others[j];
			others[j] = swap;
			chosen[others[i]] = true;
		}
	}
	bool large_suite = demo_below(rng, 3) == 0;
	hotel->room_count = 0;
	for (int kind = 0; kind < ROOM_KINDS; kind++) {
		if (!chosen[kind])
			continue;
		const struct demo_room_kind_info *info = &demo_room_kinds[kind];
		struct demo_room *room = &hotel->rooms[hotel->room_count++];
		room->kind = kind;
		room->name = info->name;
		room->capacity = info->capacity;
		room->max_children = info->max_children;
		room->price_pm = info->price_pm;
		room->total_rooms = demo_between(rng, info->rooms_min, info->rooms_max);
		if (kind == ROOM_STE && large_suite) {
			room->name = "Family Suite";
			room->capacity = 4;
			room->max_children = 2;
			room->price_pm = 2600;
		}
	}
	HBK_ASSERT(hotel->room_count >= 3 && hotel->room_count <= 6);
}

static void demo_pick_boards(struct demo_rng *rng, const struct demo_city *city,
			     struct demo_hotel *hotel, bool fixed)
{
	bool chosen[BOARD_KINDS] = {false};

	chosen[BOARD_RO] = true;
	if (fixed) {
		chosen[BOARD_BB] = chosen[BOARD_HB] = true;
	} else {
		chosen[BOARD_BB] = demo_below(rng, 100) < (hotel->stars <= 2 ? 60 : 85);
		chosen[BOARD_HB] = demo_below(rng, 100) < 40;
		chosen[BOARD_FB] = chosen[BOARD_HB] && demo_below(rng, 100) < 50;
		chosen[BOARD_AI] = demo_below(rng, 100) < (city->ai_resorts ? 40 : 8);
	}

	/* Meals cost more in better hotels, but less steeply than rooms. */
	static const int board_star_pm[] = {0, 700, 800, 1000, 1200, 1500};
	int64_t previous_major = 0;
	hotel->board_count = 0;
	for (int kind = 0; kind < BOARD_KINDS; kind++) {
		int64_t major = 0;
		if (kind != BOARD_RO) {
			int64_t milli = (int64_t)city->dbl_major * demo_boards[kind].supplement_pm *
					board_star_pm[hotel->stars] / 1000;
			major = demo_round_major(milli, city->round_major);
			/* Keep the order strict even where rounding would tie. */
			if (major <= previous_major)
				major = previous_major + city->round_major;
			previous_major = major;
		}
		if (!chosen[kind])
			continue;
		struct demo_board *board = &hotel->boards[hotel->board_count++];
		board->kind = kind;
		board->supplement_major = major;
	}
}

static void demo_pick_policy(struct demo_rng *rng, struct demo_hotel *hotel, int n)
{
	hotel->free_cancel_days = demo_between(rng, 1, 7);
	int r = demo_below(rng, 100);
	if (n == 2 || (n > 3 && r >= 8 && r < 25)) {
		hotel->sells_refundable = true;
		hotel->nrf_discount_pct = 0;
	} else if (n == 3 || (n > 3 && r < 8)) {
		hotel->sells_refundable = false;
		hotel->nrf_discount_pct = demo_between(rng, 8, 15);
	} else {
		hotel->sells_refundable = true;
		hotel->nrf_discount_pct = demo_between(rng, 5, 15);
	}
}

/* Builds hotel n (1-based) of a city; a pure function of its arguments. */
static void demo_hotel_make(int city_index, int n, char taken[][96], struct demo_hotel *hotel)
{
	const struct demo_city *city = &demo_cities[city_index];
	bool fixed = city_index == 0 && n == 1; /* H-LIS-0001, see the top */

	memset(hotel, 0, sizeof(*hotel));
	hotel->code = (city_index + 1) * 1000 + n;
	hbk_format(hotel->id, sizeof(hotel->id), "H-%s-%04d", city->code, n);
	struct demo_rng rng = {DEMO_SEED ^ demo_mix((uint64_t)hotel->code)};

	hotel->stars = fixed ? 4 : demo_pick_stars(&rng);
	demo_unique_name(&rng, city, hotel->stars, taken, n - 1, hotel->name, sizeof(hotel->name));
	const char *street = city->streets[demo_below(&rng, DEMO_STREETS)];
	int number = demo_between(&rng, 1, 199);
	if (city->number_first)
		hbk_format(hotel->address, sizeof(hotel->address), "%d %s, %s", number, street,
			   city->name);
	else
		hbk_format(hotel->address, sizeof(hotel->address), "%s %d, %s", street, number,
			   city->name);
	demo_pick_policy(&rng, hotel, n);
	hotel->level_pm = demo_between(&rng, 850, 1200);
	demo_pick_rooms(&rng, hotel, fixed);
	demo_pick_boards(&rng, city, hotel, fixed);
	if (!fixed && demo_below(&rng, 100) < 20) {
		hotel->blackout_offset = demo_between(&rng, 20, 120);
		hotel->blackout_nights = demo_between(&rng, 2, 4);
		hotel->blackout_reason =
		    demo_blackout_reasons[demo_below(&rng, COUNT_OF(demo_blackout_reasons))];
	}
	if (fixed) {
		hotel->free_cancel_days = 3;
		hotel->sells_refundable = true;
		hotel->nrf_discount_pct = 10;
		hotel->keep_first_nights = true;
	}
	HBK_ASSERT(hotel->sells_refundable || hotel->nrf_discount_pct > 0);
}

/* ------------------------------------------------------------------------
 * Nightly prices and allotments.
 */

/* The calendar's share of a night's price, per mille: weekends and seasons. */
static int demo_calendar_pm(const struct demo_city *city, hbk_date night)
{
	int year, month, day;
	int pm = 1000;

	hbk_date_to_ymd(night, &year, &month, &day);
	bool summer = month >= 6 && month <= 8;
	bool winter = month <= 2;
	bool holidays = month == 12 && day >= 20;
	if (holidays)
		pm = 1300;
	else if (summer)
		pm = city->hot_summer ? 800 : 1250;
	else if (winter)
		pm = city->hot_summer ? 1150 : 850;

	int weekday = hbk_date_weekday(night);
	if (weekday == 4 || weekday == 5) /* Friday and Saturday nights */
		pm = pm * 1200 / 1000;
	return pm;
}

static int64_t demo_price_minor(const struct demo_city *city, int64_t minor_per_major,
				const struct demo_hotel *hotel, const struct demo_room *room,
				int calendar_pm, uint64_t hash)
{
	int noise_pm = 970 + (int)(hash % 61); /* +-3%: prices that do not look computed */
	int64_t milli = (int64_t)city->dbl_major * 1000;

	milli = milli * demo_star_pm(hotel->stars) / 1000;
	milli = milli * room->price_pm / 1000;
	milli = milli * hotel->level_pm / 1000;
	milli = milli * calendar_pm / 1000;
	milli = milli * noise_pm / 1000;
	int64_t price = demo_round_major(milli, city->round_major) * minor_per_major;
	HBK_ASSERT(price > 0);
	return price;
}

static int demo_allotment(const struct demo_hotel *hotel, const struct demo_room *room, int offset,
			  uint64_t hash)
{
	int total = room->total_rooms;

	if (hotel->keep_first_nights && offset < DEMO_LIS_0001_CLEAR_NIGHTS)
		return total;
	/* About one night in eight has some rooms sold already, never all. */
	if (hash % 100 >= 12)
		return total;
	int sold = 1 + (int)((hash >> 16) % (uint64_t)(total * 3 / 4));
	HBK_ASSERT(sold < total);
	return total - sold;
}

/* ------------------------------------------------------------------------
 * Writing.
 */
enum demo_stmt {
	STMT_CITY,
	STMT_HOTEL,
	STMT_ROOM,
	STMT_BOARD,
	STMT_NIGHT,
	STMT_BLACKOUT,
	STMT_COUNT,
};

static const char *const demo_sql[STMT_COUNT] = {
    [STMT_CITY] = "INSERT INTO cities (code, name, country, currency) VALUES (?1, ?2, ?3, ?4)",
    [STMT_HOTEL] = "INSERT INTO hotels (id, code, name, city, stars, currency, address,"
		   " free_cancel_days, sells_refundable, nrf_discount_pct)"
		   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [STMT_ROOM] = "INSERT INTO room_types (hotel_id, code, name, capacity, max_children,"
		  " total_rooms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [STMT_BOARD] = "INSERT INTO boards (hotel_id, code, name, supplement_minor)"
		   " VALUES (?1, ?2, ?3, ?4)",
    [STMT_NIGHT] = "INSERT INTO inventory (hotel_id, room_type, night, allotment, price_minor)"
		   " VALUES (?1, ?2, ?3, ?4, ?5)",
    [STMT_BLACKOUT] = "INSERT INTO blackouts (hotel_id, night, reason) VALUES (?1, ?2, ?3)",
};

/* Children first, so that the deletes also hold with foreign keys on. */
static const char demo_delete_sql[] = "DELETE FROM blackouts;"
				      "DELETE FROM inventory;"
				      "DELETE FROM boards;"
				      "DELETE FROM room_types;"
				      "DELETE FROM hotels;"
				      "DELETE FROM cities;";

struct demo_writer {
	struct hbk_store *store;
	sqlite3_stmt *stmts[STMT_COUNT];
	hbk_date from;
	int days;
	int *calendar_pm; /* per night of the range, for the current city */
};

/* A bind that fails is a bug in the SQL above, not bad input. */
static void demo_bind_int(sqlite3_stmt *stmt, int index, int64_t value)
{
	int rc = sqlite3_bind_int64(stmt, index, value);
	HBK_ASSERT(rc == SQLITE_OK);
}

/* Steps an INSERT and resets it, keeping its bindings for the next row. */
static hbk_result demo_step(struct demo_writer *writer, enum demo_stmt which, const char *what,
			    struct hbk_error *err)
{
	sqlite3_stmt *stmt = writer->stmts[which];
	int rc = sqlite3_step(stmt);
	hbk_result result = HBK_OK;

	if (rc != SQLITE_DONE)
		result = hbk_store_fail(writer->store, err, what);
	sqlite3_reset(stmt);
	return result;
}

static hbk_result demo_write_city(struct demo_writer *writer, const struct demo_city *city,
				  struct hbk_error *err)
{
	sqlite3_stmt *stmt = writer->stmts[STMT_CITY];

	sqlite3_clear_bindings(stmt);
	hbk_bind_text(stmt, 1, city->code);
	hbk_bind_text(stmt, 2, city->name);
	hbk_bind_text(stmt, 3, city->country);
	hbk_bind_text(stmt, 4, city->currency);
	return demo_step(writer, STMT_CITY, "cannot insert a demo city", err);
}

static hbk_result demo_write_nights(struct demo_writer *writer, const struct demo_city *city,
				    int64_t minor_per_major, const struct demo_hotel *hotel,
				    const struct demo_room *room, struct hbk_error *err)
{
	sqlite3_stmt *stmt = writer->stmts[STMT_NIGHT];

	/* Hotel and room stay bound for all nights: only three values change. */
	sqlite3_clear_bindings(stmt);
	hbk_bind_text(stmt, 1, hotel->id);
	hbk_bind_text(stmt, 2, demo_room_kinds[room->kind].code);
	for (int offset = 0; offset < writer->days; offset++) {
		hbk_date night = writer->from + offset;
		uint64_t hash = demo_night_hash(hotel->code, room->kind, night);
		demo_bind_int(stmt, 3, night);
		demo_bind_int(stmt, 4, demo_allotment(hotel, room, offset, hash));
		demo_bind_int(stmt, 5,
			      demo_price_minor(city, minor_per_major, hotel, room,
					       writer->calendar_pm[offset], hash >> 32));
		hbk_result result =
		    demo_step(writer, STMT_NIGHT, "cannot insert demo inventory", err);
		if (result != HBK_OK)
			return result;
	}
	return HBK_OK;
}

static hbk_result demo_write_rooms(struct demo_writer *writer, const struct demo_city *city,
				   int64_t minor_per_major, const struct demo_hotel *hotel,
				   struct hbk_error *err)
{
	sqlite3_stmt *stmt = writer->stmts[STMT_ROOM];

	for (int i = 0; i < hotel->room_count; i++) {
		const struct demo_room *room = &hotel->rooms[i];
		sqlite3_clear_bindings(stmt);
		hbk_bind_text(stmt, 1, hotel->id);
		hbk_bind_text(stmt, 2, demo_room_kinds[room->kind].code);
		hbk_bind_text(stmt, 3, room->name);
		demo_bind_int(stmt, 4, room->capacity);
		demo_bind_int(stmt, 5, room->max_children);
		demo_bind_int(stmt, 6, room->total_rooms);
		hbk_result result =
		    demo_step(writer, STMT_ROOM, "cannot insert a demo room type", err);
		if (result == HBK_OK)
			result = demo_write_nights(writer, city, minor_per_major, hotel, room, err);
		if (result != HBK_OK)
			return result;
	}
	return HBK_OK;
}

static hbk_result demo_write_boards(struct demo_writer *writer, int64_t minor_per_major,
				    const struct demo_hotel *hotel, struct hbk_error *err)
{
	sqlite3_stmt *stmt = writer->stmts[STMT_BOARD];

	for (int i = 0; i < hotel->board_count; i++) {
		const struct demo_board *board = &hotel->boards[i];
		sqlite3_clear_bindings(stmt);
		hbk_bind_text(stmt, 1, hotel->id);
		hbk_bind_text(stmt, 2, demo_boards[board->kind].code);
		hbk_bind_text(stmt, 3, demo_boards[board->kind].name);
		demo_bind_int(stmt, 4, board->supplement_major * minor_per_major);
		hbk_result result =
		    demo_step(writer, STMT_BOARD, "cannot insert a demo board", err);
		if (result != HBK_OK)
			return result;
	}
	return HBK_OK;
}

static hbk_result demo_write_blackouts(struct demo_writer *writer, const struct demo_hotel *hotel,
				       struct hbk_error *err)
{
	sqlite3_stmt *stmt = writer->stmts[STMT_BLACKOUT];

	for (int i = 0; i < hotel->blackout_nights; i++) {
		int offset = hotel->blackout_offset + i;
		/* A short range simply has fewer blackouts, not nights outside it. */
		if (offset >= writer->days)
			break;
		sqlite3_clear_bindings(stmt);
		hbk_bind_text(stmt, 1, hotel->id);
		demo_bind_int(stmt, 2, writer->from + offset);
		hbk_bind_text(stmt, 3, hotel->blackout_reason);
		hbk_result result =
		    demo_step(writer, STMT_BLACKOUT, "cannot insert a demo blackout", err);
		if (result != HBK_OK)
			return result;
	}
	return HBK_OK;
}

static hbk_result demo_write_hotel(struct demo_writer *writer, const struct demo_city *city,
				   int64_t minor_per_major, const struct demo_hotel *hotel,
				   struct hbk_error *err)
{
	sqlite3_stmt *stmt = writer->stmts[STMT_HOTEL];

	sqlite3_clear_bindings(stmt);
	hbk_bind_text(stmt, 1, hotel->id);
	demo_bind_int(stmt, 2, hotel->code);
	hbk_bind_text(stmt, 3, hotel->name);
	hbk_bind_text(stmt, 4, city->code);
	demo_bind_int(stmt, 5, hotel->stars);
	hbk_bind_text(stmt, 6, city->currency);
	hbk_bind_text(stmt, 7, hotel->address);
	demo_bind_int(stmt, 8, hotel->free_cancel_days);
	demo_bind_int(stmt, 9, hotel->sells_refundable ? 1 : 0);
	demo_bind_int(stmt, 10, hotel->nrf_discount_pct);
	hbk_result result = demo_step(writer, STMT_HOTEL, "cannot insert a demo hotel", err);
	if (result == HBK_OK)
		result = demo_write_rooms(writer, city, minor_per_major, hotel, err);
	if (result == HBK_OK)
		result = demo_write_boards(writer, minor_per_major, hotel, err);
	if (result == HBK_OK)
		result = demo_write_blackouts(writer, hotel, err);
	return result;
}

static hbk_result demo_write_city_hotels(struct demo_writer *writer, int city_index, int *done,
					 void (*progress)(int done, int total, void *ctx),
					 void *ctx, struct hbk_error *err)
{
	const struct demo_city *city = &demo_cities[city_index];
	int exponent = hbk_currency_exponent(city->currency);
	if (exponent < 0)
		return hbk_fail(err, HBK_EINTERNAL, "unknown_currency",
				"demo city %s has an unknown currency %s", city->code,
				city->currency);
	int64_t minor_per_major = 1;
	for (int i = 0; i < exponent; i++)
		minor_per_major *= 10;

	hbk_result result = demo_write_city(writer, city, err);
	if (result != HBK_OK)
		return result;
	for (int offset = 0; offset < writer->days; offset++)
		writer->calendar_pm[offset] = demo_calendar_pm(city, writer->from + offset);

	char taken[DEMO_HOTELS_PER_CITY][96];
	for (int n = 1; n <= DEMO_HOTELS_PER_CITY; n++) {
		struct demo_hotel hotel;
		demo_hotel_make(city_index, n, taken, &hotel);
		hbk_copy(taken[n - 1], sizeof(taken[n - 1]), hotel.name);
		result = demo_write_hotel(writer, city, minor_per_major, &hotel, err);
		/* The new catalog is events too, so other stores get it (events.c). */
		if (result == HBK_OK)
			result = hbk_inventory_hotel_event(writer->store, hotel.id, err);
		if (result == HBK_OK)
			result = hbk_inventory_nights_event(writer->store, hotel.id, writer->from,
							    writer->from + writer->days, err);
		if (result != HBK_OK)
			return result;
		(*done)++;
		if (progress)
			progress(*done, DEMO_HOTELS, ctx);
	}
	return HBK_OK;
}

static hbk_result demo_write_all(struct demo_writer *writer,
				 void (*progress)(int done, int total, void *ctx), void *ctx,
				 struct hbk_error *err)
{
	hbk_result result = hbk_store_exec(writer->store, demo_delete_sql, err);
	int done = 0;

	if (result != HBK_OK)
		hbk_error_prefix(err, "cannot clear the catalog");

	for (int i = 0; i < STMT_COUNT && result == HBK_OK; i++)
		result = hbk_store_prepare(writer->store, demo_sql[i], &writer->stmts[i], err);
	for (int city = 0; city < DEMO_CITIES && result == HBK_OK; city++)
		result = demo_write_city_hotels(writer, city, &done, progress, ctx, err);
	if (result == HBK_OK)
		HBK_ASSERT(done == DEMO_HOTELS);
	return result;
}

hbk_result hbk_inventory_seed_demo(struct hbk_store *store, hbk_date from, int days,
				   void (*progress)(int done, int total, void *ctx), void *ctx,
				   struct hbk_error *err)
{
	HBK_ASSERT(store != NULL && store->db != NULL);

	if (days < 1 || days > DEMO_DAYS_MAX)
		return hbk_fail_field(err, HBK_EINVAL, "invalid_days", "days",
				      "demo days must be between 1 and %d, not %d", DEMO_DAYS_MAX,
				      days);
	if (from < 0 || from + days > hbk_date_from_ymd(9999, 12, 31))
		return hbk_fail_field(err, HBK_EINVAL, "invalid_date", "from",
				      "demo start date is out of range");

	struct demo_writer writer = {
	    .store = store,
	    .from = from,
	    .days = days,
	    .calendar_pm = hbk_xcalloc((size_t)days, sizeof(int)),
	};
	/* One transaction: readers see the old catalog or the new one, never a
	 * mix, and one commit is what makes 400k rows take a second. */
	hbk_result result = hbk_store_begin(store, true, err);
	bool in_transaction = result == HBK_OK;
	if (result == HBK_OK)
		result = demo_write_all(&writer, progress, ctx, err);
	for (int i = 0; i < STMT_COUNT; i++)
		hbk_stmt_done(writer.stmts[i]);
	if (result == HBK_OK) {
		result = hbk_store_commit(store, err);
		/* SQLite may keep a transaction open after a failed COMMIT. */
		if (result != HBK_OK && !sqlite3_get_autocommit(store->db))
			hbk_store_rollback(store);
	} else if (in_transaction) {
		hbk_store_rollback(store);
	}
	free(writer.calendar_pm);
	return result;
}
