//! Country name → ICAO 9303 code table, for reading the visual zone (which prints a country
//! *name*, e.g. `REPUBLIC OF KOREA`) and cross-checking it against the MRZ (which has `KOR`).
//!
//! Codes are ICAO Doc 9303 Part 3 codes: ISO 3166-1 alpha-3, except Germany `D`, plus the
//! ICAO-only codes (British nationality classes `GBD`/`GBN`/`GBO`/`GBP`/`GBS`, Kosovo `RKS`,
//! United Nations `UNO`/`UNA`/`UNK`, `EUE`, stateless/refugee `XXA`/`XXB`/`XXC`/`XXX`, and the
//! organisations `XBA`, `XIM`, `XCC`, `XCE`, `XCO`, `XEC`, `XES`, `XMP`, `XOM`, `XPO`, `XSC`).
//!
//! Matching ignores case, spaces, punctuation and common diacritics, and a leading `THE`; a
//! text with `/` (bilingual, e.g. `대한민국/REPUBLIC OF KOREA`) is tried part by part. Names include
//! the official long forms, the usual short forms and the adjective printed as nationality on
//! many passports (`BRITISH CITIZEN`, `DEUTSCH`, `CANADIAN/CANADIENNE`, ...).

use std::collections::HashMap;
use std::sync::LazyLock;

/// (code, names). Names are upper-case; matching compares letters only.
const TABLE: &[(&str, &[&str])] = &[
    (
        "AFG",
        &["AFGHANISTAN", "ISLAMIC REPUBLIC OF AFGHANISTAN", "AFGHAN"],
    ),
    (
        "ALB",
        &[
            "ALBANIA",
            "REPUBLIC OF ALBANIA",
            "ALBANIAN",
            "SHQIPERI",
            "SHQIPTAR",
        ],
    ),
    (
        "DZA",
        &[
            "ALGERIA",
            "PEOPLE'S DEMOCRATIC REPUBLIC OF ALGERIA",
            "ALGERIAN",
            "ALGERIE",
            "ALGERIENNE",
        ],
    ),
    ("AND", &["ANDORRA", "PRINCIPALITY OF ANDORRA", "ANDORRAN"]),
    ("AGO", &["ANGOLA", "REPUBLIC OF ANGOLA", "ANGOLAN"]),
    ("ATG", &["ANTIGUA AND BARBUDA", "ANTIGUAN"]),
    (
        "ARG",
        &[
            "ARGENTINA",
            "ARGENTINE REPUBLIC",
            "REPUBLICA ARGENTINA",
            "ARGENTINE",
            "ARGENTINIAN",
            "ARGENTINO",
            "ARGENTINA",
        ],
    ),
    ("ARM", &["ARMENIA", "REPUBLIC OF ARMENIA", "ARMENIAN"]),
    (
        "AUS",
        &["AUSTRALIA", "COMMONWEALTH OF AUSTRALIA", "AUSTRALIAN"],
    ),
    (
        "AUT",
        &[
            "AUSTRIA",
            "REPUBLIC OF AUSTRIA",
            "AUSTRIAN",
            "OSTERREICH",
            "REPUBLIK OSTERREICH",
            "OESTERREICH",
        ],
    ),
    (
        "AZE",
        &["AZERBAIJAN", "REPUBLIC OF AZERBAIJAN", "AZERBAIJANI"],
    ),
    (
        "BHS",
        &["BAHAMAS", "COMMONWEALTH OF THE BAHAMAS", "BAHAMIAN"],
    ),
    ("BHR", &["BAHRAIN", "KINGDOM OF BAHRAIN", "BAHRAINI"]),
    (
        "BGD",
        &[
            "BANGLADESH",
            "PEOPLE'S REPUBLIC OF BANGLADESH",
            "BANGLADESHI",
        ],
    ),
    ("BRB", &["BARBADOS", "BARBADIAN"]),
    ("BLR", &["BELARUS", "REPUBLIC OF BELARUS", "BELARUSIAN"]),
    (
        "BEL",
        &[
            "BELGIUM",
            "KINGDOM OF BELGIUM",
            "BELGIAN",
            "BELGIQUE",
            "BELGIE",
            "BELGE",
        ],
    ),
    ("BLZ", &["BELIZE", "BELIZEAN"]),
    ("BEN", &["BENIN", "REPUBLIC OF BENIN", "BENINESE"]),
    ("BTN", &["BHUTAN", "KINGDOM OF BHUTAN", "BHUTANESE"]),
    (
        "BOL",
        &[
            "BOLIVIA",
            "PLURINATIONAL STATE OF BOLIVIA",
            "BOLIVIAN",
            "BOLIVIANA",
        ],
    ),
    ("BIH", &["BOSNIA AND HERZEGOVINA", "BOSNIA", "BOSNIAN"]),
    ("BWA", &["BOTSWANA", "REPUBLIC OF BOTSWANA", "MOTSWANA"]),
    (
        "BRA",
        &[
            "BRAZIL",
            "FEDERATIVE REPUBLIC OF BRAZIL",
            "BRASIL",
            "REPUBLICA FEDERATIVA DO BRASIL",
            "BRAZILIAN",
            "BRASILEIRO",
            "BRASILEIRA",
        ],
    ),
    ("BRN", &["BRUNEI", "BRUNEI DARUSSALAM", "BRUNEIAN"]),
    ("BGR", &["BULGARIA", "REPUBLIC OF BULGARIA", "BULGARIAN"]),
    ("BFA", &["BURKINA FASO", "BURKINABE"]),
    ("BDI", &["BURUNDI", "REPUBLIC OF BURUNDI", "BURUNDIAN"]),
    ("CPV", &["CABO VERDE", "CAPE VERDE", "CAPE VERDEAN"]),
    ("KHM", &["CAMBODIA", "KINGDOM OF CAMBODIA", "CAMBODIAN"]),
    (
        "CMR",
        &[
            "CAMEROON",
            "REPUBLIC OF CAMEROON",
            "CAMEROONIAN",
            "CAMEROUN",
        ],
    ),
    (
        "CAN",
        &[
            "CANADA",
            "CANADIAN",
            "CANADIENNE",
            "CANADIEN",
            "CANADIAN/CANADIENNE",
        ],
    ),
    ("CAF", &["CENTRAL AFRICAN REPUBLIC", "CENTRAFRIQUE"]),
    ("TCD", &["CHAD", "REPUBLIC OF CHAD", "TCHAD", "CHADIAN"]),
    (
        "CHL",
        &[
            "CHILE",
            "REPUBLIC OF CHILE",
            "CHILEAN",
            "CHILENA",
            "CHILENO",
        ],
    ),
    (
        "CHN",
        &[
            "CHINA",
            "PEOPLE'S REPUBLIC OF CHINA",
            "CHINESE",
            "中国",
            "中华人民共和国",
            "중국",
            "중화인민공화국",
        ],
    ),
    (
        "COL",
        &[
            "COLOMBIA",
            "REPUBLIC OF COLOMBIA",
            "COLOMBIAN",
            "COLOMBIANA",
            "COLOMBIANO",
        ],
    ),
    ("COM", &["COMOROS", "UNION OF THE COMOROS", "COMORAN"]),
    (
        "COG",
        &[
            "CONGO",
            "REPUBLIC OF THE CONGO",
            "REPUBLIC OF CONGO",
            "CONGO BRAZZAVILLE",
        ],
    ),
    (
        "COD",
        &[
            "DEMOCRATIC REPUBLIC OF THE CONGO",
            "DEMOCRATIC REPUBLIC OF CONGO",
            "DR CONGO",
            "CONGO KINSHASA",
            "REPUBLIQUE DEMOCRATIQUE DU CONGO",
        ],
    ),
    (
        "CRI",
        &["COSTA RICA", "REPUBLIC OF COSTA RICA", "COSTA RICAN"],
    ),
    (
        "CIV",
        &[
            "COTE D'IVOIRE",
            "COTE DIVOIRE",
            "IVORY COAST",
            "REPUBLIC OF COTE D'IVOIRE",
            "IVORIAN",
            "IVOIRIENNE",
            "IVOIRIEN",
        ],
    ),
    (
        "HRV",
        &[
            "CROATIA",
            "REPUBLIC OF CROATIA",
            "CROATIAN",
            "HRVATSKA",
            "REPUBLIKA HRVATSKA",
        ],
    ),
    (
        "CUB",
        &["CUBA", "REPUBLIC OF CUBA", "CUBAN", "CUBANA", "CUBANO"],
    ),
    ("CYP", &["CYPRUS", "REPUBLIC OF CYPRUS", "CYPRIOT"]),
    (
        "CZE",
        &[
            "CZECH REPUBLIC",
            "CZECHIA",
            "CZECH",
            "CESKA REPUBLIKA",
            "CESKA REPUBLIKA/CZECH REPUBLIC",
        ],
    ),
    (
        "DNK",
        &[
            "DENMARK",
            "KINGDOM OF DENMARK",
            "DANISH",
            "DANMARK",
            "DANSK",
        ],
    ),
    ("DJI", &["DJIBOUTI", "REPUBLIC OF DJIBOUTI", "DJIBOUTIAN"]),
    (
        "DMA",
        &["DOMINICA", "COMMONWEALTH OF DOMINICA", "DOMINICAN DOMINICA"],
    ),
    (
        "DOM",
        &[
            "DOMINICAN REPUBLIC",
            "REPUBLICA DOMINICANA",
            "DOMINICAN",
            "DOMINICANA",
            "DOMINICANO",
        ],
    ),
    (
        "ECU",
        &[
            "ECUADOR",
            "REPUBLIC OF ECUADOR",
            "ECUADORIAN",
            "ECUATORIANA",
            "ECUATORIANO",
        ],
    ),
    ("EGY", &["EGYPT", "ARAB REPUBLIC OF EGYPT", "EGYPTIAN"]),
    (
        "SLV",
        &[
            "EL SALVADOR",
            "REPUBLIC OF EL SALVADOR",
            "SALVADORAN",
            "SALVADORENA",
            "SALVADORENO",
        ],
    ),
    (
        "GNQ",
        &[
            "EQUATORIAL GUINEA",
            "REPUBLIC OF EQUATORIAL GUINEA",
            "EQUATOGUINEAN",
        ],
    ),
    ("ERI", &["ERITREA", "STATE OF ERITREA", "ERITREAN"]),
    (
        "EST",
        &["ESTONIA", "REPUBLIC OF ESTONIA", "ESTONIAN", "EESTI"],
    ),
    (
        "SWZ",
        &["ESWATINI", "KINGDOM OF ESWATINI", "SWAZILAND", "SWAZI"],
    ),
    (
        "ETH",
        &[
            "ETHIOPIA",
            "FEDERAL DEMOCRATIC REPUBLIC OF ETHIOPIA",
            "ETHIOPIAN",
        ],
    ),
    ("FJI", &["FIJI", "REPUBLIC OF FIJI", "FIJIAN"]),
    (
        "FIN",
        &[
            "FINLAND",
            "REPUBLIC OF FINLAND",
            "FINNISH",
            "SUOMI",
            "SUOMI FINLAND",
        ],
    ),
    (
        "FRA",
        &[
            "FRANCE",
            "FRENCH REPUBLIC",
            "REPUBLIQUE FRANCAISE",
            "FRENCH",
            "FRANCAISE",
            "FRANCAIS",
        ],
    ),
    (
        "GAB",
        &["GABON", "GABONESE REPUBLIC", "GABONESE", "GABONAISE"],
    ),
    ("GMB", &["GAMBIA", "REPUBLIC OF THE GAMBIA", "GAMBIAN"]),
    ("GEO", &["GEORGIA", "GEORGIAN", "SAKARTVELO"]),
    (
        "D",
        &[
            "GERMANY",
            "FEDERAL REPUBLIC OF GERMANY",
            "GERMAN",
            "DEUTSCH",
            "DEUTSCHLAND",
            "BUNDESREPUBLIK DEUTSCHLAND",
            "DEU",
            "독일",
        ],
    ),
    ("GHA", &["GHANA", "REPUBLIC OF GHANA", "GHANAIAN"]),
    (
        "GRC",
        &[
            "GREECE",
            "HELLENIC REPUBLIC",
            "GREEK",
            "HELLAS",
            "ELLAS",
            "HELLENIC",
        ],
    ),
    ("GRD", &["GRENADA", "GRENADIAN"]),
    (
        "GTM",
        &[
            "GUATEMALA",
            "REPUBLIC OF GUATEMALA",
            "GUATEMALAN",
            "GUATEMALTECA",
            "GUATEMALTECO",
        ],
    ),
    (
        "GIN",
        &["GUINEA", "REPUBLIC OF GUINEA", "GUINEAN", "GUINEE"],
    ),
    ("GNB", &["GUINEA-BISSAU", "GUINEA BISSAU", "BISSAU-GUINEAN"]),
    (
        "GUY",
        &["GUYANA", "CO-OPERATIVE REPUBLIC OF GUYANA", "GUYANESE"],
    ),
    (
        "HTI",
        &["HAITI", "REPUBLIC OF HAITI", "HAITIAN", "HAITIENNE"],
    ),
    (
        "VAT",
        &["HOLY SEE", "VATICAN", "VATICAN CITY", "VATICAN CITY STATE"],
    ),
    (
        "HND",
        &[
            "HONDURAS",
            "REPUBLIC OF HONDURAS",
            "HONDURAN",
            "HONDURENA",
            "HONDURENO",
        ],
    ),
    (
        "HKG",
        &[
            "HONG KONG",
            "HONG KONG SAR",
            "HONG KONG SPECIAL ADMINISTRATIVE REGION",
            "HONG KONG SPECIAL ADMINISTRATIVE REGION OF THE PEOPLE'S REPUBLIC OF CHINA",
            "홍콩",
        ],
    ),
    (
        "MAC",
        &[
            "MACAO",
            "MACAU",
            "MACAO SAR",
            "MACAO SPECIAL ADMINISTRATIVE REGION",
        ],
    ),
    ("HUN", &["HUNGARY", "HUNGARIAN", "MAGYARORSZAG", "MAGYAR"]),
    ("ISL", &["ICELAND", "ICELANDIC", "ISLAND"]),
    (
        "IND",
        &["INDIA", "REPUBLIC OF INDIA", "INDIAN", "BHARAT", "인도"],
    ),
    (
        "IDN",
        &[
            "INDONESIA",
            "REPUBLIC OF INDONESIA",
            "INDONESIAN",
            "REPUBLIK INDONESIA",
            "인도네시아",
        ],
    ),
    ("IRN", &["IRAN", "ISLAMIC REPUBLIC OF IRAN", "IRANIAN"]),
    ("IRQ", &["IRAQ", "REPUBLIC OF IRAQ", "IRAQI"]),
    ("IRL", &["IRELAND", "IRISH", "EIRE", "EIREANNACH"]),
    ("ISR", &["ISRAEL", "STATE OF ISRAEL", "ISRAELI"]),
    (
        "ITA",
        &[
            "ITALY",
            "ITALIAN REPUBLIC",
            "ITALIAN",
            "ITALIA",
            "REPUBBLICA ITALIANA",
            "ITALIANA",
        ],
    ),
    ("JAM", &["JAMAICA", "JAMAICAN"]),
    ("JPN", &["JAPAN", "JAPANESE", "NIPPON", "日本", "일본"]),
    (
        "JOR",
        &["JORDAN", "HASHEMITE KINGDOM OF JORDAN", "JORDANIAN"],
    ),
    (
        "KAZ",
        &[
            "KAZAKHSTAN",
            "REPUBLIC OF KAZAKHSTAN",
            "KAZAKH",
            "KAZAKHSTANI",
            "카자흐스탄",
        ],
    ),
    ("KEN", &["KENYA", "REPUBLIC OF KENYA", "KENYAN"]),
    ("KIR", &["KIRIBATI", "REPUBLIC OF KIRIBATI", "I-KIRIBATI"]),
    (
        "PRK",
        &[
            "DEMOCRATIC PEOPLE'S REPUBLIC OF KOREA",
            "NORTH KOREA",
            "DPRK",
            "KOREA DPR",
            "조선민주주의인민공화국",
            "북한",
        ],
    ),
    (
        "KOR",
        &[
            "REPUBLIC OF KOREA",
            "KOREA",
            "SOUTH KOREA",
            "KOREA REPUBLIC OF",
            "KOREA (REPUBLIC OF)",
            "KOREAN",
            "대한민국",
            "한국",
        ],
    ),
    (
        "RKS",
        &[
            "KOSOVO",
            "REPUBLIC OF KOSOVO",
            "KOSOVAR",
            "REPUBLIKA E KOSOVES",
        ],
    ),
    ("KWT", &["KUWAIT", "STATE OF KUWAIT", "KUWAITI"]),
    (
        "KGZ",
        &["KYRGYZSTAN", "KYRGYZ REPUBLIC", "KYRGYZ", "키르기스스탄"],
    ),
    (
        "LAO",
        &[
            "LAOS",
            "LAO PEOPLE'S DEMOCRATIC REPUBLIC",
            "LAO PDR",
            "LAO",
            "LAOTIAN",
            "라오스",
        ],
    ),
    (
        "LVA",
        &["LATVIA", "REPUBLIC OF LATVIA", "LATVIAN", "LATVIJA"],
    ),
    (
        "LBN",
        &["LEBANON", "LEBANESE REPUBLIC", "LEBANESE", "LIBAN"],
    ),
    (
        "LSO",
        &["LESOTHO", "KINGDOM OF LESOTHO", "MOSOTHO", "BASOTHO"],
    ),
    ("LBR", &["LIBERIA", "REPUBLIC OF LIBERIA", "LIBERIAN"]),
    ("LBY", &["LIBYA", "STATE OF LIBYA", "LIBYAN"]),
    (
        "LIE",
        &[
            "LIECHTENSTEIN",
            "PRINCIPALITY OF LIECHTENSTEIN",
            "FURSTENTUM LIECHTENSTEIN",
        ],
    ),
    (
        "LTU",
        &[
            "LITHUANIA",
            "REPUBLIC OF LITHUANIA",
            "LITHUANIAN",
            "LIETUVA",
            "LIETUVOS RESPUBLIKA",
        ],
    ),
    (
        "LUX",
        &[
            "LUXEMBOURG",
            "GRAND DUCHY OF LUXEMBOURG",
            "LUXEMBOURGISH",
            "LUXEMBOURGEOISE",
            "LUXEMBOURGEOIS",
        ],
    ),
    ("MDG", &["MADAGASCAR", "REPUBLIC OF MADAGASCAR", "MALAGASY"]),
    ("MWI", &["MALAWI", "REPUBLIC OF MALAWI", "MALAWIAN"]),
    ("MYS", &["MALAYSIA", "MALAYSIAN", "말레이시아"]),
    ("MDV", &["MALDIVES", "REPUBLIC OF MALDIVES", "MALDIVIAN"]),
    ("MLI", &["MALI", "REPUBLIC OF MALI", "MALIAN"]),
    ("MLT", &["MALTA", "REPUBLIC OF MALTA", "MALTESE"]),
    (
        "MHL",
        &[
            "MARSHALL ISLANDS",
            "REPUBLIC OF THE MARSHALL ISLANDS",
            "MARSHALLESE",
        ],
    ),
    (
        "MRT",
        &[
            "MAURITANIA",
            "ISLAMIC REPUBLIC OF MAURITANIA",
            "MAURITANIAN",
            "MAURITANIE",
        ],
    ),
    ("MUS", &["MAURITIUS", "REPUBLIC OF MAURITIUS", "MAURITIAN"]),
    (
        "MEX",
        &[
            "MEXICO",
            "UNITED MEXICAN STATES",
            "ESTADOS UNIDOS MEXICANOS",
            "MEXICAN",
            "MEXICANA",
            "MEXICANO",
            "멕시코",
        ],
    ),
    (
        "FSM",
        &[
            "MICRONESIA",
            "FEDERATED STATES OF MICRONESIA",
            "MICRONESIAN",
        ],
    ),
    ("MDA", &["MOLDOVA", "REPUBLIC OF MOLDOVA", "MOLDOVAN"]),
    ("MCO", &["MONACO", "PRINCIPALITY OF MONACO", "MONEGASQUE"]),
    ("MNG", &["MONGOLIA", "MONGOLIAN", "몽골"]),
    ("MNE", &["MONTENEGRO", "MONTENEGRIN", "CRNA GORA"]),
    (
        "MAR",
        &[
            "MOROCCO",
            "KINGDOM OF MOROCCO",
            "MOROCCAN",
            "MAROC",
            "MAROCAINE",
        ],
    ),
    (
        "MOZ",
        &["MOZAMBIQUE", "REPUBLIC OF MOZAMBIQUE", "MOZAMBICAN"],
    ),
    (
        "MMR",
        &[
            "MYANMAR",
            "REPUBLIC OF THE UNION OF MYANMAR",
            "BURMA",
            "MYANMAR BURMESE",
            "BURMESE",
            "미얀마",
        ],
    ),
    ("NAM", &["NAMIBIA", "REPUBLIC OF NAMIBIA", "NAMIBIAN"]),
    ("NRU", &["NAURU", "REPUBLIC OF NAURU", "NAURUAN"]),
    (
        "NPL",
        &[
            "NEPAL",
            "FEDERAL DEMOCRATIC REPUBLIC OF NEPAL",
            "NEPALESE",
            "NEPALI",
            "네팔",
        ],
    ),
    (
        "NLD",
        &[
            "NETHERLANDS",
            "KINGDOM OF THE NETHERLANDS",
            "DUTCH",
            "NEDERLAND",
            "NEDERLANDSE",
            "KONINKRIJK DER NEDERLANDEN",
            "HOLLAND",
        ],
    ),
    (
        "NZL",
        &["NEW ZEALAND", "NEW ZEALANDER", "NEW ZEALAND CITIZEN"],
    ),
    (
        "NIC",
        &[
            "NICARAGUA",
            "REPUBLIC OF NICARAGUA",
            "NICARAGUAN",
            "NICARAGUENSE",
        ],
    ),
    (
        "NER",
        &["NIGER", "REPUBLIC OF NIGER", "NIGERIEN", "NIGERIENNE"],
    ),
    (
        "NGA",
        &["NIGERIA", "FEDERAL REPUBLIC OF NIGERIA", "NIGERIAN"],
    ),
    (
        "MKD",
        &[
            "NORTH MACEDONIA",
            "REPUBLIC OF NORTH MACEDONIA",
            "MACEDONIA",
            "MACEDONIAN",
            "FORMER YUGOSLAV REPUBLIC OF MACEDONIA",
        ],
    ),
    (
        "NOR",
        &["NORWAY", "KINGDOM OF NORWAY", "NORWEGIAN", "NORGE", "NORSK"],
    ),
    ("OMN", &["OMAN", "SULTANATE OF OMAN", "OMANI"]),
    (
        "PAK",
        &[
            "PAKISTAN",
            "ISLAMIC REPUBLIC OF PAKISTAN",
            "PAKISTANI",
            "파키스탄",
        ],
    ),
    ("PLW", &["PALAU", "REPUBLIC OF PALAU", "PALAUAN"]),
    (
        "PSE",
        &[
            "PALESTINE",
            "STATE OF PALESTINE",
            "PALESTINIAN",
            "PALESTINIAN AUTHORITY",
        ],
    ),
    (
        "PAN",
        &[
            "PANAMA",
            "REPUBLIC OF PANAMA",
            "PANAMANIAN",
            "PANAMENA",
            "PANAMENO",
        ],
    ),
    (
        "PNG",
        &[
            "PAPUA NEW GUINEA",
            "INDEPENDENT STATE OF PAPUA NEW GUINEA",
            "PAPUA NEW GUINEAN",
        ],
    ),
    (
        "PRY",
        &[
            "PARAGUAY",
            "REPUBLIC OF PARAGUAY",
            "PARAGUAYAN",
            "PARAGUAYA",
            "PARAGUAYO",
        ],
    ),
    (
        "PER",
        &["PERU", "REPUBLIC OF PERU", "PERUVIAN", "PERUANA", "PERUANO"],
    ),
    (
        "PHL",
        &[
            "PHILIPPINES",
            "REPUBLIC OF THE PHILIPPINES",
            "REPUBLIKA NG PILIPINAS",
            "FILIPINO",
            "FILIPINA",
            "PILIPINAS",
            "필리핀",
        ],
    ),
    (
        "POL",
        &[
            "POLAND",
            "REPUBLIC OF POLAND",
            "POLISH",
            "POLSKA",
            "RZECZPOSPOLITA POLSKA",
            "POLSKIE",
        ],
    ),
    (
        "PRT",
        &[
            "PORTUGAL",
            "PORTUGUESE REPUBLIC",
            "PORTUGUESE",
            "PORTUGUESA",
            "REPUBLICA PORTUGUESA",
        ],
    ),
    ("QAT", &["QATAR", "STATE OF QATAR", "QATARI"]),
    ("ROU", &["ROMANIA", "ROMANIAN", "ROMANA", "ROUMANIE"]),
    (
        "RUS",
        &[
            "RUSSIA",
            "RUSSIAN FEDERATION",
            "RUSSIAN",
            "ROSSIYSKAYA FEDERATSIYA",
            "러시아",
            "러시아연방",
        ],
    ),
    ("RWA", &["RWANDA", "REPUBLIC OF RWANDA", "RWANDAN"]),
    (
        "KNA",
        &[
            "SAINT KITTS AND NEVIS",
            "ST KITTS AND NEVIS",
            "FEDERATION OF SAINT KITTS AND NEVIS",
        ],
    ),
    ("LCA", &["SAINT LUCIA", "ST LUCIA", "SAINT LUCIAN"]),
    (
        "VCT",
        &[
            "SAINT VINCENT AND THE GRENADINES",
            "ST VINCENT AND THE GRENADINES",
            "VINCENTIAN",
        ],
    ),
    ("WSM", &["SAMOA", "INDEPENDENT STATE OF SAMOA", "SAMOAN"]),
    (
        "SMR",
        &["SAN MARINO", "REPUBLIC OF SAN MARINO", "SAMMARINESE"],
    ),
    (
        "STP",
        &[
            "SAO TOME AND PRINCIPE",
            "DEMOCRATIC REPUBLIC OF SAO TOME AND PRINCIPE",
        ],
    ),
    (
        "SAU",
        &[
            "SAUDI ARABIA",
            "KINGDOM OF SAUDI ARABIA",
            "SAUDI",
            "SAUDI ARABIAN",
        ],
    ),
    (
        "SEN",
        &[
            "SENEGAL",
            "REPUBLIC OF SENEGAL",
            "SENEGALESE",
            "SENEGALAISE",
        ],
    ),
    (
        "SRB",
        &[
            "SERBIA",
            "REPUBLIC OF SERBIA",
            "SERBIAN",
            "REPUBLIKA SRBIJA",
            "SRBIJA",
        ],
    ),
    (
        "SYC",
        &["SEYCHELLES", "REPUBLIC OF SEYCHELLES", "SEYCHELLOIS"],
    ),
    (
        "SLE",
        &["SIERRA LEONE", "REPUBLIC OF SIERRA LEONE", "SIERRA LEONEAN"],
    ),
    (
        "SGP",
        &[
            "SINGAPORE",
            "REPUBLIC OF SINGAPORE",
            "SINGAPOREAN",
            "SINGAPORE CITIZEN",
            "싱가포르",
        ],
    ),
    (
        "SVK",
        &[
            "SLOVAKIA",
            "SLOVAK REPUBLIC",
            "SLOVAK",
            "SLOVENSKA REPUBLIKA",
            "SLOVENSKO",
        ],
    ),
    (
        "SVN",
        &[
            "SLOVENIA",
            "REPUBLIC OF SLOVENIA",
            "SLOVENIAN",
            "SLOVENE",
            "SLOVENIJA",
            "REPUBLIKA SLOVENIJA",
        ],
    ),
    ("SLB", &["SOLOMON ISLANDS", "SOLOMON ISLANDER"]),
    ("SOM", &["SOMALIA", "FEDERAL REPUBLIC OF SOMALIA", "SOMALI"]),
    (
        "ZAF",
        &[
            "SOUTH AFRICA",
            "REPUBLIC OF SOUTH AFRICA",
            "SOUTH AFRICAN",
            "SOUTH AFRICAN CITIZEN",
        ],
    ),
    (
        "SSD",
        &["SOUTH SUDAN", "REPUBLIC OF SOUTH SUDAN", "SOUTH SUDANESE"],
    ),
    (
        "ESP",
        &[
            "SPAIN",
            "KINGDOM OF SPAIN",
            "SPANISH",
            "ESPANA",
            "REINO DE ESPANA",
            "ESPANOLA",
            "ESPANOL",
        ],
    ),
    (
        "LKA",
        &[
            "SRI LANKA",
            "DEMOCRATIC SOCIALIST REPUBLIC OF SRI LANKA",
            "SRI LANKAN",
            "스리랑카",
        ],
    ),
    (
        "SDN",
        &[
            "SUDAN",
            "REPUBLIC OF THE SUDAN",
            "REPUBLIC OF SUDAN",
            "SUDANESE",
        ],
    ),
    (
        "SUR",
        &[
            "SURINAME",
            "REPUBLIC OF SURINAME",
            "SURINAMESE",
            "SURINAMER",
        ],
    ),
    (
        "SWE",
        &[
            "SWEDEN",
            "KINGDOM OF SWEDEN",
            "SWEDISH",
            "SVERIGE",
            "SVENSK",
        ],
    ),
    (
        "CHE",
        &[
            "SWITZERLAND",
            "SWISS CONFEDERATION",
            "SWISS",
            "SCHWEIZ",
            "SUISSE",
            "SVIZZERA",
            "SVIZRA",
            "CONFOEDERATIO HELVETICA",
            "SCHWEIZER",
            "SCHWEIZERIN",
        ],
    ),
    ("SYR", &["SYRIA", "SYRIAN ARAB REPUBLIC", "SYRIAN"]),
    (
        "TWN",
        &[
            "TAIWAN",
            "REPUBLIC OF CHINA",
            "REPUBLIC OF CHINA (TAIWAN)",
            "TAIWANESE",
            "中華民國",
            "대만",
        ],
    ),
    (
        "TJK",
        &[
            "TAJIKISTAN",
            "REPUBLIC OF TAJIKISTAN",
            "TAJIK",
            "TAJIKISTANI",
        ],
    ),
    (
        "TZA",
        &["TANZANIA", "UNITED REPUBLIC OF TANZANIA", "TANZANIAN"],
    ),
    ("THA", &["THAILAND", "KINGDOM OF THAILAND", "THAI", "태국"]),
    (
        "TLS",
        &[
            "TIMOR-LESTE",
            "TIMOR LESTE",
            "EAST TIMOR",
            "DEMOCRATIC REPUBLIC OF TIMOR-LESTE",
            "TIMORESE",
        ],
    ),
    (
        "TGO",
        &["TOGO", "TOGOLESE REPUBLIC", "TOGOLESE", "TOGOLAISE"],
    ),
    ("TON", &["TONGA", "KINGDOM OF TONGA", "TONGAN"]),
    (
        "TTO",
        &[
            "TRINIDAD AND TOBAGO",
            "REPUBLIC OF TRINIDAD AND TOBAGO",
            "TRINIDADIAN",
            "TOBAGONIAN",
        ],
    ),
    (
        "TUN",
        &[
            "TUNISIA",
            "REPUBLIC OF TUNISIA",
            "TUNISIAN",
            "TUNISIE",
            "TUNISIENNE",
        ],
    ),
    (
        "TUR",
        &[
            "TURKEY",
            "TURKIYE",
            "REPUBLIC OF TURKEY",
            "REPUBLIC OF TURKIYE",
            "TURKIYE CUMHURIYETI",
            "TURKISH",
            "튀르키예",
            "터키",
        ],
    ),
    ("TKM", &["TURKMENISTAN", "TURKMEN"]),
    ("TUV", &["TUVALU", "TUVALUAN"]),
    ("UGA", &["UGANDA", "REPUBLIC OF UGANDA", "UGANDAN"]),
    ("UKR", &["UKRAINE", "UKRAINIAN", "UKRAINA", "우크라이나"]),
    ("ARE", &["UNITED ARAB EMIRATES", "UAE", "EMIRATI", "U.A.E."]),
    (
        "GBR",
        &[
            "UNITED KINGDOM",
            "UNITED KINGDOM OF GREAT BRITAIN AND NORTHERN IRELAND",
            "GREAT BRITAIN",
            "BRITAIN",
            "UK",
            "BRITISH CITIZEN",
            "BRITISH",
            "영국",
        ],
    ),
    (
        "GBD",
        &[
            "BRITISH OVERSEAS TERRITORIES CITIZEN",
            "BRITISH DEPENDENT TERRITORIES CITIZEN",
        ],
    ),
    (
        "GBN",
        &["BRITISH NATIONAL (OVERSEAS)", "BRITISH NATIONAL OVERSEAS"],
    ),
    ("GBO", &["BRITISH OVERSEAS CITIZEN"]),
    ("GBP", &["BRITISH PROTECTED PERSON"]),
    ("GBS", &["BRITISH SUBJECT"]),
    (
        "USA",
        &[
            "UNITED STATES OF AMERICA",
            "UNITED STATES",
            "USA",
            "U.S.A.",
            "US",
            "AMERICAN",
            "미국",
            "미합중국",
        ],
    ),
    (
        "URY",
        &[
            "URUGUAY",
            "ORIENTAL REPUBLIC OF URUGUAY",
            "URUGUAYAN",
            "URUGUAYA",
            "URUGUAYO",
        ],
    ),
    (
        "UZB",
        &[
            "UZBEKISTAN",
            "REPUBLIC OF UZBEKISTAN",
            "UZBEK",
            "UZBEKISTANI",
            "우즈베키스탄",
        ],
    ),
    ("VUT", &["VANUATU", "REPUBLIC OF VANUATU", "NI-VANUATU"]),
    (
        "VEN",
        &[
            "VENEZUELA",
            "BOLIVARIAN REPUBLIC OF VENEZUELA",
            "VENEZUELAN",
            "VENEZOLANA",
            "VENEZOLANO",
        ],
    ),
    (
        "VNM",
        &[
            "VIET NAM",
            "VIETNAM",
            "SOCIALIST REPUBLIC OF VIET NAM",
            "SOCIALIST REPUBLIC OF VIETNAM",
            "VIETNAMESE",
            "CONG HOA XA HOI CHU NGHIA VIET NAM",
            "베트남",
        ],
    ),
    ("YEM", &["YEMEN", "REPUBLIC OF YEMEN", "YEMENI"]),
    ("ZMB", &["ZAMBIA", "REPUBLIC OF ZAMBIA", "ZAMBIAN"]),
    ("ZWE", &["ZIMBABWE", "REPUBLIC OF ZIMBABWE", "ZIMBABWEAN"]),
    // Territories with their own ISO codes that appear on travel documents.
    ("ABW", &["ARUBA", "ARUBAN"]),
    ("AIA", &["ANGUILLA"]),
    ("BMU", &["BERMUDA", "BERMUDIAN"]),
    (
        "VGB",
        &["BRITISH VIRGIN ISLANDS", "VIRGIN ISLANDS (BRITISH)"],
    ),
    ("CYM", &["CAYMAN ISLANDS", "CAYMANIAN"]),
    ("CUW", &["CURACAO"]),
    ("FLK", &["FALKLAND ISLANDS"]),
    ("FRO", &["FAROE ISLANDS"]),
    ("GIB", &["GIBRALTAR"]),
    ("GRL", &["GREENLAND"]),
    ("GGY", &["GUERNSEY"]),
    ("IMN", &["ISLE OF MAN"]),
    ("JEY", &["JERSEY"]),
    ("MSR", &["MONTSERRAT"]),
    ("NCL", &["NEW CALEDONIA"]),
    ("PYF", &["FRENCH POLYNESIA"]),
    ("PRI", &["PUERTO RICO"]),
    (
        "SHN",
        &[
            "SAINT HELENA",
            "SAINT HELENA, ASCENSION AND TRISTAN DA CUNHA",
        ],
    ),
    ("SXM", &["SINT MAARTEN"]),
    ("TCA", &["TURKS AND CAICOS ISLANDS"]),
    ("ESH", &["WESTERN SAHARA"]),
    ("ATA", &["ANTARCTICA"]),
    // ICAO-only codes.
    ("EUE", &["EUROPEAN UNION"]),
    (
        "UNO",
        &[
            "UNITED NATIONS",
            "UNITED NATIONS ORGANIZATION",
            "UNITED NATIONS ORGANIZATION OR ONE OF ITS OFFICIALS",
        ],
    ),
    (
        "UNA",
        &[
            "UNITED NATIONS SPECIALIZED AGENCY",
            "SPECIALIZED AGENCY OF THE UNITED NATIONS",
        ],
    ),
    (
        "UNK",
        &[
            "UNITED NATIONS INTERIM ADMINISTRATION MISSION IN KOSOVO",
            "UNMIK",
        ],
    ),
    ("XBA", &["AFRICAN DEVELOPMENT BANK"]),
    ("XIM", &["AFRICAN EXPORT-IMPORT BANK", "AFREXIMBANK"]),
    ("XCC", &["CARIBBEAN COMMUNITY", "CARICOM"]),
    ("XCE", &["COUNCIL OF EUROPE"]),
    (
        "XCO",
        &["COMMON MARKET FOR EASTERN AND SOUTHERN AFRICA", "COMESA"],
    ),
    (
        "XEC",
        &["ECONOMIC COMMUNITY OF WEST AFRICAN STATES", "ECOWAS"],
    ),
    ("XES", &["ORGANISATION OF EASTERN CARIBBEAN STATES", "OECS"]),
    ("XMP", &["INTERNATIONAL COMMITTEE OF THE RED CROSS", "ICRC"]),
    (
        "XOM",
        &["SOVEREIGN MILITARY ORDER OF MALTA", "ORDER OF MALTA"],
    ),
    (
        "XPO",
        &["INTERPOL", "INTERNATIONAL CRIMINAL POLICE ORGANIZATION"],
    ),
    ("XSC", &["SHANGHAI COOPERATION ORGANIZATION"]),
    ("XXA", &["STATELESS", "STATELESS PERSON"]),
    ("XXB", &["REFUGEE", "REFUGEE (1951 CONVENTION)"]),
    ("XXC", &["REFUGEE (OTHER)", "REFUGEE OTHER"]),
    (
        "XXX",
        &[
            "UNSPECIFIED NATIONALITY",
            "UNSPECIFIED",
            "NATIONALITY UNSPECIFIED",
        ],
    ),
];

/// Fold common Latin diacritics to their base letter (upper-case input).
fn fold(c: char) -> char {
    match c {
        'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => 'A',
        'Ç' => 'C',
        'È' | 'É' | 'Ê' | 'Ë' => 'E',
        'Ì' | 'Í' | 'Î' | 'Ï' => 'I',
        'Ñ' => 'N',
        'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' | 'Ø' => 'O',
        'Ù' | 'Ú' | 'Û' | 'Ü' => 'U',
        'Ý' => 'Y',
        'Š' => 'S',
        'Č' | 'Ć' => 'C',
        'Ž' => 'Z',
        'Ř' => 'R',
        'Ł' => 'L',
        'Ğ' => 'G',
        'Ş' => 'S',
        'İ' => 'I',
        c => c,
    }
}

/// Matching key: letters only (any script), upper-cased, diacritics folded, leading `THE`
/// dropped.
fn key(s: &str) -> String {
    let words: Vec<String> = s
        .split(|c: char| !c.is_alphabetic())
        .filter(|w| !w.is_empty())
        .map(|w| w.to_uppercase().chars().map(fold).collect())
        .collect();
    let skip = usize::from(words.len() > 1 && words[0] == "THE");
    words[skip..].concat()
}

/// Whether `s` is an ICAO code in the table (exact, upper-case; `D` for Germany).
pub fn is_code(s: &str) -> bool {
    TABLE.iter().any(|(code, _)| *code == s)
}

/// Every code in the table.
pub fn codes() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|(code, _)| *code)
}

/// The ICAO code for a country code, name or nationality adjective, if known.
/// A three-letter text is first taken as a code (`KOR`), including `D<<`-style MRZ padding.
pub fn lookup(s: &str) -> Option<&'static str> {
    if s.chars().count() > 200 {
        return None;
    }
    let trimmed = s.trim().trim_end_matches('<');
    if let Some((code, _)) = TABLE
        .iter()
        .find(|(code, _)| trimmed.eq_ignore_ascii_case(code))
    {
        return Some(code);
    }
    std::iter::once(s)
        .chain(s.split('/'))
        .map(key)
        .filter(|k| !k.is_empty())
        .find_map(|k| {
            // The first table entry whose code or one of whose names matches.
            let by_code = TABLE
                .iter()
                .position(|(code, _)| k.len() == 3 && *code == k);
            let by_name = NAME_KEYS.get(&k).copied();
            by_code.into_iter().chain(by_name).min().map(|i| TABLE[i].0)
        })
}

/// Every name's matching [`key`] → the index of the first table entry that lists it: the
/// keys are made once, not for every name at every lookup (that was most of a record's
/// normalization time).
static NAME_KEYS: LazyLock<HashMap<String, usize>> = LazyLock::new(|| {
    let mut keys = HashMap::new();
    for (i, (_, names)) in TABLE.iter().enumerate() {
        for name in *names {
            keys.entry(key(name)).or_insert(i);
        }
    }
    keys
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut seen = std::collections::BTreeSet::new();
        for (code, _) in TABLE {
            assert!(seen.insert(*code), "duplicate code {code}");
            assert!(code.len() == 3 || *code == "D", "{code}");
            assert!(code.chars().all(|c| c.is_ascii_uppercase()));
        }
        let mut names = std::collections::BTreeMap::new();
        for (code, ns) in TABLE {
            for n in *ns {
                if let Some(other) = names.insert(key(n), *code) {
                    assert_eq!(other, *code, "name {n} maps to two codes");
                }
            }
        }
        assert!(seen.len() >= 200, "{}", seen.len());
    }

    #[test]
    fn lookups() {
        for (s, want) in [
            ("REPUBLIC OF KOREA", Some("KOR")),
            ("Republic of Korea", Some("KOR")),
            ("REPUBLICOF KOREA", Some("KOR")),
            ("대한민국", Some("KOR")),
            ("대한민국/REPUBLIC OF KOREA", Some("KOR")),
            ("KOR", Some("KOR")),
            (" kor ", Some("KOR")),
            ("D<<", Some("D")),
            ("DEUTSCH", Some("D")),
            ("UNITED STATES OF AMERICA", Some("USA")),
            ("The Netherlands", Some("NLD")),
            ("BRITISH CITIZEN", Some("GBR")),
            ("CANADIAN/CANADIENNE", Some("CAN")),
            ("CÔTE D'IVOIRE", Some("CIV")),
            ("UTOPIA", None),
            ("UTO", None),
            ("", None),
            ("THE", None),
        ] {
            assert_eq!(lookup(s), want, "{s}");
        }
    }
}
