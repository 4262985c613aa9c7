/**
 * Variable -> MIMIC-III ITEMID, for the MIMIC-shaped export (CHARTEVENTS / LABEVENTS / OUTPUTEVENTS)
 * and the LOINC codes of the FHIR and OMOP exports.
 *
 * Derived from itemid_to_variable_map.csv of mimic3-benchmarks (MIT license; Harutyunyan et al.,
 * "Multitask learning and benchmarking with clinical time series data", Sci Data 2019), as extended
 * by SynEHRgy (Karami et al., arXiv 2411.13428): for each LEVEL2 variable, the curated row (STATUS
 * ready/verify/verify2) with the highest COUNT, except where that row's unit differs from the one
 * our data sets use (Temperature: 676 "Temperature C", not 678 "Temperature F"; Weight: 3580 kg;
 * Height: 226730 cm; Prothrombin time: 51274 PT, not INR).
 *
 * Where each LOINC code comes from:
 * - lab items: the map's LOINC_CODE column, which is MIMIC-III's D_LABITEMS.LOINC_CODE (un-mangled
 *   where a spreadsheet had turned "1742-6" into "6/1/1742");
 * - vital signs: the codes HL7's FHIR R4 vital-signs profiles fix (heartrate 8867-4, resprate 9279-1,
 *   bodytemp 8310-5, bodyweight 29463-7, bodyheight 8302-2, oxygensat 2708-6, and the bp profile's
 *   components 8480-6 / 8462-4) and LOINC's mean blood pressure 8478-0, the same in US Core;
 * - GCS: LOINC's Glasgow coma score panel 9269-2 (total) and its parts 9267-6 (eye opening),
 *   9268-4 (best motor response), 9270-0 (best verbal response);
 * - FiO2: LOINC 3150-0 "Inhaled oxygen concentration", the code of HL7's pulse-oximetry profiles
 *   (US Core) for the inspired oxygen component; PaO2: LOINC 2703-7 "Oxygen [Partial pressure] in
 *   Arterial blood"; urine output: LOINC 9187-6 "Urine output".
 * Capillary refill (a normal/abnormal finding) has no code here.
 *
 * Units: `uom` is VALUEUOM as MIMIC-III writes it for the item (its most frequent spelling in the
 * MIMIC-III Clinical Database Demo v1.4; FIO2, present weight and urine output, absent from the demo,
 * as mimic-code reads them: percent, kg, ml), `ucum` the same unit in UCUM. A value in another unit is
 * converted to the item's unit on export (src/load/units.ts), with the substance's molar mass
 * (magnesium 24.305 g/mol, IUPAC standard atomic weight) or charge where moles meet mass or
 * equivalents.
 */
export type MimicEventTable = 'chartevents' | 'labevents' | 'outputevents';

export interface MimicItem {
  itemid: number;
  table: MimicEventTable;
  /** MIMIC's own label of the item (D_ITEMS.LABEL / D_LABITEMS.LABEL) */
  label: string;
  loinc?: string;
  /** VALUEUOM as MIMIC-III writes it for this item */
  uom?: string;
  /** the same unit as a UCUM code */
  ucum?: string;
  /** D_LABITEMS.FLUID and CATEGORY of a lab item (both NOT NULL in mimic-code's schema) */
  fluid?: string;
  category?: string;
  /** MIMIC charts the item as text that starts with its score ("4 Spontaneously"); VALUENUM is that score */
  numericPrefix?: boolean;
  /** g/mol and charge of the substance, for conversions between moles, mass and equivalents */
  molarMass?: number;
  charge?: number;
}

/** By mimic3-benchmarks' LEVEL2 variable name, the names the MIMIC-III data config uses. */
export const MIMIC_ITEMS: Readonly<Record<string, MimicItem>> = {
  'Alanine aminotransferase': { itemid: 50861, table: 'labevents', label: 'ALANINE AMINOTRANSFERASE (ALT)', loinc: '1742-6', uom: 'IU/L', ucum: 'U/L', fluid: 'Blood', category: 'Chemistry' },
  'Albumin': { itemid: 50862, table: 'labevents', label: 'ALBUMIN', loinc: '1751-7', uom: 'g/dL', ucum: 'g/dL', fluid: 'Blood', category: 'Chemistry' },
  'Alkaline phosphate': { itemid: 50863, table: 'labevents', label: 'ALKALINE PHOSPHATASE', loinc: '6768-6', uom: 'IU/L', ucum: 'U/L', fluid: 'Blood', category: 'Chemistry' },
  'Anion gap': { itemid: 50868, table: 'labevents', label: 'ANION GAP', loinc: '1863-0', uom: 'mEq/L', ucum: 'meq/L', fluid: 'Blood', category: 'Chemistry' },
  'Asparate aminotransferase': { itemid: 50878, table: 'labevents', label: 'ASPARATE AMINOTRANSFERASE (AST)', loinc: '1920-8', uom: 'IU/L', ucum: 'U/L', fluid: 'Blood', category: 'Chemistry' },
  'Basophils': { itemid: 51146, table: 'labevents', label: 'BASOPHILS', loinc: '704-7', uom: '%', ucum: '%', fluid: 'Blood', category: 'Hematology' },
  'Bicarbonate': { itemid: 50882, table: 'labevents', label: 'BICARBONATE', loinc: '1963-8', uom: 'mEq/L', ucum: 'meq/L', fluid: 'Blood', category: 'Chemistry', charge: 1 },
  'Bilirubin': { itemid: 50885, table: 'labevents', label: 'BILIRUBIN, TOTAL', loinc: '1975-2', uom: 'mg/dL', ucum: 'mg/dL', fluid: 'Blood', category: 'Chemistry' },
  'Blood urea nitrogen': { itemid: 51006, table: 'labevents', label: 'UREA NITROGEN', loinc: '3094-0', uom: 'mg/dL', ucum: 'mg/dL', fluid: 'Blood', category: 'Chemistry' },
  'Calcium': { itemid: 50893, table: 'labevents', label: 'CALCIUM, TOTAL', loinc: '2000-8', uom: 'mg/dL', ucum: 'mg/dL', fluid: 'Blood', category: 'Chemistry' },
  'Capillary refill rate': { itemid: 3348, table: 'chartevents', label: 'Capillary Refill' },
  'Chloride': { itemid: 50902, table: 'labevents', label: 'CHLORIDE', loinc: '2075-0', uom: 'mEq/L', ucum: 'meq/L', fluid: 'Blood', category: 'Chemistry', charge: 1 },
  'Creatinine': { itemid: 50912, table: 'labevents', label: 'CREATININE', loinc: '2160-0', uom: 'mg/dL', ucum: 'mg/dL', fluid: 'Blood', category: 'Chemistry' },
  'Diastolic blood pressure': { itemid: 8368, table: 'chartevents', label: 'Arterial BP [Diastolic]', loinc: '8462-4', uom: 'mmHg', ucum: 'mm[Hg]' },
  'Fraction inspired oxygen': { itemid: 3420, table: 'chartevents', label: 'FIO2', loinc: '3150-0', uom: '%', ucum: '%' },
  'Glascow coma scale eye opening': { itemid: 184, table: 'chartevents', label: 'Eye Opening', loinc: '9267-6', numericPrefix: true },
  'Glascow coma scale motor response': { itemid: 454, table: 'chartevents', label: 'Motor Response', loinc: '9268-4', numericPrefix: true },
  'Glascow coma scale total': { itemid: 198, table: 'chartevents', label: 'GCS Total', loinc: '9269-2', uom: 'points', ucum: '{score}', numericPrefix: true },
  'Glascow coma scale verbal response': { itemid: 723, table: 'chartevents', label: 'Verbal Response', loinc: '9270-0', numericPrefix: true },
  'Glucose': { itemid: 50931, table: 'labevents', label: 'GLUCOSE', loinc: '2345-7', uom: 'mg/dL', ucum: 'mg/dL', fluid: 'Blood', category: 'Chemistry' },
  'Heart Rate': { itemid: 211, table: 'chartevents', label: 'Heart Rate', loinc: '8867-4', uom: 'BPM', ucum: '/min' },
  'Height': { itemid: 226730, table: 'chartevents', label: 'Height (cm)', loinc: '8302-2', uom: 'cm', ucum: 'cm' },
  'Hematocrit': { itemid: 51221, table: 'labevents', label: 'HEMATOCRIT', loinc: '4544-3', uom: '%', ucum: '%', fluid: 'Blood', category: 'Hematology' },
  'Hemoglobin': { itemid: 51222, table: 'labevents', label: 'HEMOGLOBIN', loinc: '718-7', uom: 'g/dL', ucum: 'g/dL', fluid: 'Blood', category: 'Hematology' },
  'Lactate': { itemid: 50813, table: 'labevents', label: 'LACTATE', loinc: '32693-4', uom: 'mmol/L', ucum: 'mmol/L', fluid: 'Blood', category: 'Blood Gas' },
  'Lymphocytes': { itemid: 51244, table: 'labevents', label: 'LYMPHOCYTES', loinc: '731-0', uom: '%', ucum: '%', fluid: 'Blood', category: 'Hematology' },
  'Magnesium': { itemid: 50960, table: 'labevents', label: 'MAGNESIUM', loinc: '2601-3', uom: 'mg/dL', ucum: 'mg/dL', fluid: 'Blood', category: 'Chemistry', molarMass: 24.305, charge: 2 },
  'Mean blood pressure': { itemid: 52, table: 'chartevents', label: 'Arterial BP Mean', loinc: '8478-0', uom: 'mmHg', ucum: 'mm[Hg]' },
  'Mean corpuscular volume': { itemid: 51250, table: 'labevents', label: 'MCV', loinc: '787-2', uom: 'fL', ucum: 'fL', fluid: 'Blood', category: 'Hematology' },
  'Monocytes': { itemid: 51254, table: 'labevents', label: 'MONOCYTES', loinc: '742-7', uom: '%', ucum: '%', fluid: 'Blood', category: 'Hematology' },
  'Neutrophils': { itemid: 51256, table: 'labevents', label: 'NEUTROPHILS', loinc: '761-7', uom: '%', ucum: '%', fluid: 'Blood', category: 'Hematology' },
  'Oxygen saturation': { itemid: 646, table: 'chartevents', label: 'SpO2', loinc: '2708-6', uom: '%', ucum: '%' },
  'Partial pressure of carbon dioxide': { itemid: 50818, table: 'labevents', label: 'PCO2', loinc: '11557-6', uom: 'mm Hg', ucum: 'mm[Hg]', fluid: 'Blood', category: 'Blood Gas' },
  'Partial pressure of oxygen': { itemid: 779, table: 'chartevents', label: 'Arterial PaO2', loinc: '2703-7', uom: 'mmHg', ucum: 'mm[Hg]' },
  'Phosphate': { itemid: 50970, table: 'labevents', label: 'PHOSPHATE', loinc: '2777-1', uom: 'mg/dL', ucum: 'mg/dL', fluid: 'Blood', category: 'Chemistry' },
  'Platelets': { itemid: 51265, table: 'labevents', label: 'PLATELET COUNT', loinc: '777-3', uom: 'K/uL', ucum: '10*3/uL', fluid: 'Blood', category: 'Hematology' },
  'Potassium': { itemid: 50971, table: 'labevents', label: 'POTASSIUM', loinc: '2823-3', uom: 'mEq/L', ucum: 'meq/L', fluid: 'Blood', category: 'Chemistry', charge: 1 },
  'Prothrombin time': { itemid: 51274, table: 'labevents', label: 'PT', loinc: '5902-2', uom: 'sec', ucum: 's', fluid: 'Blood', category: 'Hematology' },
  'Red blood cell count': { itemid: 51279, table: 'labevents', label: 'RED BLOOD CELLS', loinc: '789-8', uom: 'm/uL', ucum: '10*6/uL', fluid: 'Blood', category: 'Hematology' },
  'Respiratory rate': { itemid: 618, table: 'chartevents', label: 'Respiratory Rate', loinc: '9279-1', uom: 'BPM', ucum: '/min' },
  'Sodium': { itemid: 50983, table: 'labevents', label: 'SODIUM', loinc: '2951-2', uom: 'mEq/L', ucum: 'meq/L', fluid: 'Blood', category: 'Chemistry', charge: 1 },
  'Systolic blood pressure': { itemid: 51, table: 'chartevents', label: 'Arterial BP [Systolic]', loinc: '8480-6', uom: 'mmHg', ucum: 'mm[Hg]' },
  'Temperature': { itemid: 676, table: 'chartevents', label: 'Temperature C', loinc: '8310-5', uom: 'Deg. C', ucum: 'Cel' },
  'Troponin-I': { itemid: 51002, table: 'labevents', label: 'TROPONIN I', loinc: '10839-9', uom: 'ng/mL', ucum: 'ng/mL', fluid: 'Blood', category: 'Chemistry' },
  'Troponin-T': { itemid: 51003, table: 'labevents', label: 'TROPONIN T', loinc: '6598-7', uom: 'ng/mL', ucum: 'ng/mL', fluid: 'Blood', category: 'Chemistry' },
  'Urine output': { itemid: 40055, table: 'outputevents', label: 'Urine Out Foley', loinc: '9187-6', uom: 'ml', ucum: 'mL' },
  'Weight': { itemid: 3580, table: 'chartevents', label: 'Present Weight  (kg)', loinc: '29463-7', uom: 'kg', ucum: 'kg' },
  'White blood cell count': { itemid: 51301, table: 'labevents', label: 'WHITE BLOOD CELLS', loinc: '804-5', uom: 'K/uL', ucum: '10*3/uL', fluid: 'Blood', category: 'Hematology' },
  'pH': { itemid: 50820, table: 'labevents', label: 'PH', loinc: '11558-4', uom: 'units', ucum: '[pH]', fluid: 'Blood', category: 'Blood Gas' },
  'Cholesterol': { itemid: 50907, table: 'labevents', label: 'CHOLESTEROL, TOTAL', loinc: '2093-3', uom: 'mg/dL', ucum: 'mg/dL', fluid: 'Blood', category: 'Chemistry' },
};

/**
 * PhysioNet 2012 parameter names -> the same items. Non-invasive blood pressures and SaO2 get their
 * own MIMIC items (NBP, SaO2), as in the map, rather than the arterial line's.
 */
const PHYSIONET_2012: Readonly<Record<string, MimicItem>> = {
  ALP: MIMIC_ITEMS['Alkaline phosphate']!,
  ALT: MIMIC_ITEMS['Alanine aminotransferase']!,
  AST: MIMIC_ITEMS['Asparate aminotransferase']!,
  Albumin: MIMIC_ITEMS['Albumin']!,
  BUN: MIMIC_ITEMS['Blood urea nitrogen']!,
  Bilirubin: MIMIC_ITEMS['Bilirubin']!,
  Cholesterol: MIMIC_ITEMS['Cholesterol']!,
  Creatinine: MIMIC_ITEMS['Creatinine']!,
  DiasABP: MIMIC_ITEMS['Diastolic blood pressure']!,
  FiO2: MIMIC_ITEMS['Fraction inspired oxygen']!,
  GCS: MIMIC_ITEMS['Glascow coma scale total']!,
  Glucose: MIMIC_ITEMS['Glucose']!,
  HCO3: MIMIC_ITEMS['Bicarbonate']!,
  HCT: MIMIC_ITEMS['Hematocrit']!,
  HR: MIMIC_ITEMS['Heart Rate']!,
  Height: MIMIC_ITEMS['Height']!,
  K: MIMIC_ITEMS['Potassium']!,
  Lactate: MIMIC_ITEMS['Lactate']!,
  MAP: MIMIC_ITEMS['Mean blood pressure']!,
  Mg: MIMIC_ITEMS['Magnesium']!,
  NIDiasABP: { itemid: 8441, table: 'chartevents', label: 'NBP [Diastolic]', loinc: '8462-4', uom: 'mmHg', ucum: 'mm[Hg]' },
  NIMAP: { itemid: 456, table: 'chartevents', label: 'NBP Mean', loinc: '8478-0', uom: 'mmHg', ucum: 'mm[Hg]' },
  NISysABP: { itemid: 455, table: 'chartevents', label: 'NBP [Systolic]', loinc: '8480-6', uom: 'mmHg', ucum: 'mm[Hg]' },
  Na: MIMIC_ITEMS['Sodium']!,
  PaCO2: MIMIC_ITEMS['Partial pressure of carbon dioxide']!,
  PaO2: MIMIC_ITEMS['Partial pressure of oxygen']!,
  Platelets: MIMIC_ITEMS['Platelets']!,
  RespRate: MIMIC_ITEMS['Respiratory rate']!,
  SaO2: { itemid: 834, table: 'chartevents', label: 'SaO2', loinc: '2708-6', uom: '%', ucum: '%' },
  SysABP: MIMIC_ITEMS['Systolic blood pressure']!,
  Temp: MIMIC_ITEMS['Temperature']!,
  TroponinI: MIMIC_ITEMS['Troponin-I']!,
  TroponinT: MIMIC_ITEMS['Troponin-T']!,
  Urine: MIMIC_ITEMS['Urine output']!,
  WBC: MIMIC_ITEMS['White blood cell count']!,
  Weight: MIMIC_ITEMS['Weight']!,
  pH: MIMIC_ITEMS['pH']!,
};

const byLowerName = new Map(Object.entries(MIMIC_ITEMS).map(([k, v]) => [k.toLowerCase(), v]));

/**
 * ITEMIDs handed to variables that neither table knows: a range MIMIC-III does not use (its
 * largest ITEMID is below 230000), so an exported row never claims to be a real MIMIC item.
 */
export const FIRST_LOCAL_ITEMID = 900_000;

/** The MIMIC item of a variable: a LEVEL2 name (any case), a PhysioNet 2012 parameter, or undefined. */
export function knownMimicItem(variable: string): MimicItem | undefined {
  return MIMIC_ITEMS[variable] ?? PHYSIONET_2012[variable] ?? byLowerName.get(variable.toLowerCase());
}

/**
 * Resolves every variable of an export once: known ones to their MIMIC item (unless `accepts` turns
 * the item down, e.g. for a unit it cannot be converted to), the others to local ITEMIDs from
 * FIRST_LOCAL_ITEMID up, in sorted order so that the same variables get the same ids.
 */
export function resolveItems(variables: Iterable<string>, accepts: (variable: string, item: MimicItem) => boolean = () => true): Map<string, MimicItem & { local: boolean }> {
  const out = new Map<string, MimicItem & { local: boolean }>();
  let next = FIRST_LOCAL_ITEMID;
  for (const v of [...new Set(variables)].sort()) {
    const known = knownMimicItem(v);
    out.set(v, known && accepts(v, known) ? { ...known, local: false } : { itemid: next++, table: 'chartevents', label: v, local: true });
  }
  return out;
}
